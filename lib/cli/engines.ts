// Where the commands ask container engines for names: Docker's or podman's
// API socket and containerd's, from flags or the config file. In a container
// (a DaemonSet), the host's sockets are mounted somewhere else: /host/run/….
import type { ParseArgsConfig } from 'node:util';
import type { SubscribeOptions } from '../subscribe/subscription.js';
import { type Parsed, list } from './args.js';

export const ENGINE_OPTIONS = {
  'runtime-socket': { type: 'string', multiple: true },
  'containerd-socket': { type: 'string', multiple: true },
} satisfies NonNullable<ParseArgsConfig['options']>;

export const ENGINE_OPTIONS_HELP = `Container names (asked in the background; each may repeat; none to ask none):
      --runtime-socket PATH     Docker's or podman's API socket (default /var/run/docker.sock,
                                /run/podman/podman.sock where they exist)
      --containerd-socket PATH  containerd's (default /run/containerd/containerd.sock and
                                Docker's managed one, where they exist)`;

/** The sockets given, those of the config file, or the defaults; `none` turns a kind off. */
export function engineSocketsFrom(
  values: Parsed['values'],
  config: { runtimeSockets?: string[]; containerdSockets?: string[] } = {},
): Pick<SubscribeOptions, 'runtimeSockets' | 'containerdSockets'> {
  const pick = (flag: string[], file: string[] | undefined): string[] | false | undefined => {
    const given = flag.length > 0 ? flag : file;
    if (given === undefined) return undefined;
    return given.length === 0 || given.includes('none') ? false : given;
  };
  return {
    runtimeSockets: pick(list(values['runtime-socket']), config.runtimeSockets),
    containerdSockets: pick(list(values['containerd-socket']), config.containerdSockets),
  };
}
