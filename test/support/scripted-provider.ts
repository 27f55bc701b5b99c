import type { EngineProvider, InstanceSpec, InstanceState } from '#shared/ports/engine-provider.ts';

/**
 * A test double of the engine provider port that records every call and plays a script:
 * what createInstance throws, and the sequence of states describeInstance returns.
 */
export class ScriptedProvider implements EngineProvider {
  calls: Array<{ method: string; resourceId: string }> = [];
  instances = new Map<string, InstanceSpec>();
  createErrors: Error[] = [];
  states: InstanceState[] = [];
  /** State returned once the script runs out. */
  steadyState: InstanceState = { status: 'available', endpoint: { host: '127.0.0.1', port: 6543 } };

  async createInstance(spec: InstanceSpec) {
    this.calls.push({ method: 'createInstance', resourceId: spec.resourceId });
    const error = this.createErrors.shift();
    if (error) throw error;
    this.instances.set(spec.resourceId, spec);
  }

  async describeInstance(resourceId: string): Promise<InstanceState> {
    this.calls.push({ method: 'describeInstance', resourceId });
    if (!this.instances.has(resourceId)) return { status: 'absent' };
    return this.states.shift() ?? this.steadyState;
  }

  async deleteInstance(resourceId: string) {
    this.calls.push({ method: 'deleteInstance', resourceId });
    this.instances.delete(resourceId);
  }

  /** What setAdminPassword was asked (a fork seeded from a physical copy gets its own password). */
  passwords: Array<{ resourceId: string; username: string; password: string }> = [];
  async setAdminPassword(resourceId: string, username: string, password: string) {
    this.calls.push({ method: 'setAdminPassword', resourceId });
    this.passwords.push({ resourceId, username, password });
  }

  count(method: string) {
    return this.calls.filter((call) => call.method === method).length;
  }
}
