'use strict';
/**
 * Stands in, inside the Lambda bundles, for the AWS SDK clients whose models esbuild cannot
 * tree-shake (EC2, RDS, ElastiCache, DocumentDB: query-protocol clients whose schema modules
 * use computed keys, so one command bundles the whole service model; EC2 alone is 550 KB),
 * and for S3, whose model is 100 KB of every bundle that calls it.
 * ../bundling.ts aliases each of those packages to a one-line module that calls this with the
 * package's name. What a module imports from the package (`XxxClient`, `XxxCommand`) becomes
 * a light class here; the first `send` loads the real client from the Lambda runtime's AWS SDK
 * (`require` with a computed name is left alone by esbuild and resolves through the runtime's
 * NODE_PATH) and replays the command on it. A function that never calls that service never
 * parses its model: that is the point (cold start). Tests and the local target never load this
 * file: they import the real packages.
 *
 * Only clients and commands come through here (the platform code imports nothing else as a
 * value from these packages); any other name is undefined, as a missing export would be.
 */
const load = (packageName) => require(packageName);

/** What `runtimeOf` reads from a stand-in client: the runtime's SDK package and its real client. */
const RUNTIME = Symbol('addons.runtimeClient');

module.exports = (packageName) => {
  let sdk;
  const real = () => {
    sdk ??= load(packageName);
    return sdk;
  };
  const made = new Map();
  const make = (name) => {
    if (name.endsWith('Command')) {
      return class {
        static commandName = name;
        constructor(input) {
          this.input = input;
        }
      };
    }
    if (name.endsWith('Client')) {
      return class {
        #config;
        #client;
        constructor(config = {}) {
          this.#config = config;
        }
        async send(command, options) {
          const { client, command: replayed } = this[RUNTIME](command);
          return client.send(replayed, options);
        }
        /** The runtime's client (made once) and the command rebuilt on the runtime's SDK. */
        [RUNTIME](command) {
          const Command = real()[command.constructor.commandName];
          if (!Command) throw new Error(`${packageName} has no ${command.constructor.commandName}`);
          this.#client ??= new (real()[name])(this.#config);
          return { client: this.#client, command: new Command(command.input) };
        }
        // Middleware works on a real client's config and middleware stack: only a bundled client
        // has them, so say so rather than fail somewhere inside the SDK. Presigning goes through
        // the runtime's presigner instead (sdk/s3-request-presigner.cjs).
        get config() {
          throw new Error(`${name} here is the runtime stand-in: bundle ${packageName} to add middleware`);
        }
        get middlewareStack() {
          return this.config;
        }
        destroy() {
          this.#client?.destroy();
        }
      };
    }
    return undefined;
  };
  const lookup = new Proxy(
    {},
    {
      get: (_target, name) => {
        if (typeof name !== 'string' || name === 'then' || name === '__esModule') return undefined;
        if (!/^[A-Z]\w*(Client|Command)$/.test(name)) return undefined;
        if (!made.has(name)) made.set(name, make(name));
        return made.get(name);
      },
    },
  );
  // esbuild's CommonJS interop copies own properties and keeps the prototype: named imports
  // are looked up through it.
  return Object.create(lookup);
};

/**
 * The runtime's client and command behind a stand-in client and one of its commands, for the
 * runtime's helpers that need the real client (the S3 presigner); anything else is refused.
 */
module.exports.runtimeOf = (client, command) => {
  if (typeof client?.[RUNTIME] !== 'function') {
    throw new Error('not a runtime stand-in client: bundle the helper with the client it is given');
  }
  return client[RUNTIME](command);
};
module.exports.load = load;
