// deploy/ stays true to the code: the DaemonSet's config passes the agent's
// own checks, asks for the privileges deploy/README.md names and no more, and
// probes the endpoint the config serves; the Dockerfile's final stage is the
// layout the live image test builds (test/helpers/image.ts).
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { checkConfig } from '../lib/config/index.js';

const docs = parseAllDocuments(fs.readFileSync('deploy/daemonset.yaml', 'utf8')).map((d) => d.toJS());
const byKind = (kind: string) => docs.find((d) => d.kind === kind);

describe('deploy/daemonset.yaml', () => {
  const ds = byKind('DaemonSet');
  const pod = ds.spec.template.spec;
  const agent = pod.containers[0];

  it('its config is one the agent accepts', () => {
    const config = checkConfig(JSON.parse(byKind('ConfigMap').data['config.json']));
    expect(config.metrics).toEqual({ host: '0.0.0.0', port: 9464 });
    expect(config.sinks[0]).toMatchObject({ type: 'syslog', transport: 'relp', spoolDir: '/var/lib/linux-audit/spool' });
  });

  it('the host pid namespace, the two audit capabilities and nothing else; read-only where it can be', () => {
    expect(pod.hostPID).toBe(true);
    expect(pod.hostNetwork).toBeUndefined();
    expect(agent.securityContext.capabilities).toEqual({ drop: ['ALL'], add: ['AUDIT_CONTROL', 'AUDIT_READ'] });
    expect(agent.securityContext).toMatchObject({ privileged: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
    const writable = agent.volumeMounts.filter((m: { readOnly?: boolean }) => !m.readOnly).map((m: { mountPath: string }) => m.mountPath);
    expect(writable.sort()).toEqual(['/run/linux-audit', '/var/lib/linux-audit']);
  });

  it('probes /healthz on the port the config serves metrics on', () => {
    expect(agent.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(agent.ports).toEqual([{ name: 'metrics', containerPort: 9464 }]);
    expect(agent.args).toEqual(['forward', '--config', '/etc/linux-audit/config.json']);
  });
});

describe('deploy/Dockerfile', () => {
  const text = fs.readFileSync('deploy/Dockerfile', 'utf8');
  const final = text.slice(text.lastIndexOf('\nFROM '));

  it('a Debian Node 20 image whose final stage holds what the live test\'s image holds', () => {
    expect(final).toMatch(/^\nFROM node:20-bookworm-slim\n/);
    const copied = [...final.matchAll(/^COPY --from=build \/src\/(\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]);
    expect(copied).toEqual([
      ['package.json', './'],
      ['dist', 'dist'],
      ['proto', 'proto'],
      ['node_modules', 'node_modules'],
      ['build/Release/linux_audit.node', 'build/Release/linux_audit.node'],
    ]);
    expect(final).toContain('WORKDIR /opt/linux-audit');
    expect(final).toContain('ENTRYPOINT ["node", "/opt/linux-audit/dist/cli/main.js"]');
    expect(final).toContain('CMD ["forward", "--config", "/etc/linux-audit/config.json"]');
  });
});
