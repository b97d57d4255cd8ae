import type { AnyNodeDefinition } from './define-node';

/** Node types by their `type` id. */
export class NodeRegistry {
  private readonly byType = new Map<string, AnyNodeDefinition>();

  constructor(defs: readonly AnyNodeDefinition[] = []) {
    for (const def of defs) this.register(def);
  }

  register(def: AnyNodeDefinition): this {
    if (this.byType.has(def.type)) throw new Error(`node type "${def.type}" is registered twice`);
    this.byType.set(def.type, def);
    return this;
  }

  get(type: string): AnyNodeDefinition | undefined {
    return this.byType.get(type);
  }

  types(): string[] {
    return [...this.byType.keys()];
  }

  all(): AnyNodeDefinition[] {
    return [...this.byType.values()];
  }
}
