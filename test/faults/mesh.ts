// Every directed link between the nodes' Raft ports as its own proxy, and the partitions the nemesis builds from them.
import { describeMode, LinkProxy, type LinkMode, pass } from './proxy.js';

export interface MeshNode {
  readonly id: string;
  readonly raftPort: number;
}

export class ProxyMesh {
  readonly #nodes: readonly MeshNode[];
  readonly #links = new Map<string, LinkProxy>();

  private constructor(nodes: readonly MeshNode[]) {
    this.#nodes = nodes;
  }

  static async start(nodes: readonly MeshNode[], random: () => number): Promise<ProxyMesh> {
    const mesh = new ProxyMesh(nodes);
    for (const from of nodes) {
      for (const to of nodes) {
        if (from.id === to.id) continue;
        mesh.#links.set(linkName(from.id, to.id), await LinkProxy.start({ name: linkName(from.id, to.id), targetPort: to.raftPort, random }));
      }
    }
    return mesh;
  }

  get ids(): string[] {
    return this.#nodes.map((n) => n.id);
  }

  link(from: string, to: string): LinkProxy {
    const link = this.#links.get(linkName(from, to));
    if (link === undefined) throw new Error(`no link ${linkName(from, to)}`);
    return link;
  }

  links(): LinkProxy[] {
    return [...this.#links.values()];
  }

  /** Node `id`'s PEERS: itself at its real Raft port, every other node at the port of the proxy on its own link to it. */
  peersOf(id: string): string {
    return this.#nodes.map((n) => `${n.id}=127.0.0.1:${n.id === id ? n.raftPort : this.link(id, n.id).port}`).join(',');
  }

  set(from: string, to: string, mode: LinkMode): void {
    this.link(from, to).set(mode);
  }

  /** Links between different groups get `mode` (both ways); links inside a group pass. Nodes in no group are alone. */
  partition(groups: readonly (readonly string[])[], mode: LinkMode = { kind: 'drop' }): void {
    const groupOf = new Map<string, number>();
    groups.forEach((g, i) => g.forEach((id) => groupOf.set(id, i)));
    for (const from of this.ids) {
      for (const to of this.ids) {
        if (from === to) continue;
        const a = groupOf.get(from);
        const same = a !== undefined && a === groupOf.get(to);
        this.set(from, to, same ? pass : mode);
      }
    }
  }

  /** Every link gets `mode`. */
  all(mode: LinkMode): void {
    for (const link of this.#links.values()) link.set(mode);
  }

  heal(): void {
    this.all(pass);
  }

  /** The node's process is gone (kill -9): links into it refuse connections until `targetUp`. */
  async targetDown(id: string): Promise<void> {
    await Promise.all(this.ids.filter((from) => from !== id).map((from) => this.link(from, id).targetDown()));
  }

  async targetUp(id: string): Promise<void> {
    await Promise.all(this.ids.filter((from) => from !== id).map((from) => this.link(from, id).targetUp()));
  }

  /** The links that do not pass, e.g. `n1→n2 drop, n2→n1 drop`. */
  describe(): string {
    const faulty = this.links().filter((l) => l.mode.kind !== 'pass').map((l) => `${l.name} ${describeMode(l.mode)}`);
    return faulty.length === 0 ? 'all links pass' : faulty.join(', ');
  }

  async close(): Promise<void> {
    await Promise.all(this.links().map((l) => l.close()));
  }
}

function linkName(from: string, to: string): string {
  return `${from}→${to}`;
}
