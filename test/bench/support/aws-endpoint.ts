import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local AWS endpoint for cold-start runs (AWS_ENDPOINT_URL points every client at it): no
 * network, and each answer is the empty one a fresh deployment gives. DynamoDB finds nothing,
 * Secrets Manager hands out a random key, anything else answers an empty document. It counts
 * the calls, so the benchmark can show what a first request touched.
 */
export const startAwsEndpoint = async () => {
  const calls = new Map<string, number>();
  const secret = randomBytes(32).toString('hex');
  const answer = (target: string, request: IncomingMessage): { type: string; body: string } => {
    const json = 'application/x-amz-json-1.0';
    switch (target) {
      case 'DynamoDB_20120810.Query':
      case 'DynamoDB_20120810.Scan':
        return { type: json, body: JSON.stringify({ Items: [], Count: 0, ScannedCount: 0 }) };
      case 'DynamoDB_20120810.BatchGetItem':
        return { type: json, body: JSON.stringify({ Responses: {}, UnprocessedKeys: {} }) };
      case 'secretsmanager.GetSecretValue':
        return {
          type: 'application/x-amz-json-1.1',
          body: JSON.stringify({
            ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:bench',
            Name: 'bench',
            SecretString: secret,
            VersionId: 'v1',
          }),
        };
      default:
        return target
          ? { type: json, body: '{}' }
          : { type: 'text/xml', body: `<Response><RequestId>${request.url}</RequestId></Response>` };
    }
  };
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      const target = String(request.headers['x-amz-target'] ?? '');
      const name = target || `${request.method} ${request.headers.host}`;
      calls.set(name, (calls.get(name) ?? 0) + 1);
      const { type, body } = answer(target, request);
      response.writeHead(200, { 'content-type': type, 'x-amzn-requestid': 'bench' }).end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    /** The calls made since the last take, e.g. `DynamoDB_20120810.GetItem`. */
    takeCalls: (): string[] => {
      const taken = [...calls.entries()].map(([name, count]) => (count > 1 ? `${name} x${count}` : name));
      calls.clear();
      return taken;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
};
