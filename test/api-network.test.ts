/**
 * Networks, IPv6 publishing and volume options through the Engine API service: the create body's
 * EndpointSettings.IPAMConfig.IPv6Address, PortBindings with HostIp "::1" and
 * Mounts[].VolumeOptions.DriverConfig.Options reach the engine as the CLI's flags do.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { json, request, useService } from './api-support.js';
import { httpGet, isRoot } from './helpers.js';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(p));
    });
  });
}


describe('engine API: fixed IPv6 address, IPv6 port bindings, volume driver options', { skip: !isRoot && 'needs root' }, () => {
  const { svc } = useService('api-net');

  it('creates and starts a container with IPAMConfig.IPv6Address, a [::1] binding and a tmpfs volume from VolumeOptions', async () => {
    const created = await request(svc.socket, 'POST', '/networks/create', { Name: 'apinet6', EnableIPv6: true, IPAM: { Config: [{ Subnet: 'fd5e:3e01:6c1::/64' }] } });
    assert.equal(created.status, 201, created.body.toString());
    const port = await freePort();
    const body = {
      Image: 'busybox',
      Cmd: ['sh', '-c', 'grep " /data " /proc/mounts > /www/index.html; df -k /data | tail -1 >> /www/index.html; httpd -f -p 80 -h /www'],
      ExposedPorts: { '80/tcp': {} },
      HostConfig: {
        NetworkMode: 'apinet6',
        PortBindings: { '80/tcp': [{ HostIp: '::1', HostPort: String(port) }] },
        Mounts: [
          { Type: 'volume', Source: 'apivol', Target: '/data', VolumeOptions: { Labels: { via: 'api' }, DriverConfig: { Name: 'local', Options: { type: 'tmpfs', device: 'tmpfs', o: 'size=1m' } } } },
          { Type: 'tmpfs', Target: '/www' },
        ],
      },
      NetworkingConfig: { EndpointsConfig: { apinet6: { IPAMConfig: { IPv6Address: 'fd5e:3e01:6c1::42' } } } },
    };
    const c = await request(svc.socket, 'POST', '/containers/create?name=api6', body);
    assert.equal(c.status, 201, c.body.toString());
    const id = (json(c) as { Id: string }).Id;
    const started = await request(svc.socket, 'POST', `/containers/${id}/start`);
    assert.equal(started.status, 204, started.body.toString());
    type Doc = { NetworkSettings: { GlobalIPv6Address: string; Ports: Record<string, unknown>; Networks: Record<string, { IPAMConfig: unknown; GlobalIPv6Address: string }> } };
    const doc = json(await request(svc.socket, 'GET', `/containers/${id}/json`)) as Doc;
    assert.equal(doc.NetworkSettings.Networks.apinet6?.GlobalIPv6Address, 'fd5e:3e01:6c1::42');
    assert.deepEqual(doc.NetworkSettings.Networks.apinet6?.IPAMConfig, { IPv6Address: 'fd5e:3e01:6c1::42' });
    assert.deepEqual(doc.NetworkSettings.Ports['80/tcp'], [{ HostIp: '::1', HostPort: String(port) }]);
    // The container serves what it saw: the volume is a 1 MiB tmpfs made with the driver options.
    let text = '';
    for (const end = Date.now() + 15_000; !text && Date.now() < end; ) text = await httpGet(port, '::1').catch(() => new Promise<string>((r) => setTimeout(() => r(''), 100)));
    assert.match(text, /^tmpfs \/data tmpfs /m);
    assert.match(text, /\s1024\s/);
    const vol = json(await request(svc.socket, 'GET', '/volumes/apivol')) as { Options: Record<string, string>; Labels: Record<string, string> };
    assert.deepEqual(vol.Options, { type: 'tmpfs', device: 'tmpfs', o: 'size=1m' });
    assert.deepEqual(vol.Labels, { via: 'api' });
    // Errors keep docker's words and status: an address outside the subnet, a driver that does not exist.
    const outside = await request(svc.socket, 'POST', '/containers/create?name=bad6', { ...body, NetworkingConfig: { EndpointsConfig: { apinet6: { IPAMConfig: { IPv6Address: 'fd5e:3e01:6c2::1' } } } } });
    assert.equal(outside.status, 400);
    assert.match((json(outside) as { message: string }).message, /no configured subnet or ip-range contain the IP address fd5e:3e01:6c2::1/);
    const plugin = await request(svc.socket, 'POST', '/containers/create?name=badvol', {
      Image: 'busybox',
      HostConfig: { Mounts: [{ Type: 'volume', Source: 'x', Target: '/x', VolumeOptions: { DriverConfig: { Name: 'nfs' } } }] },
    });
    assert.equal(plugin.status, 400);
    assert.match((json(plugin) as { message: string }).message, /plugin "nfs" not found/);
    assert.equal((await request(svc.socket, 'DELETE', `/containers/${id}?force=1`)).status, 204);
    assert.equal((await request(svc.socket, 'DELETE', '/volumes/apivol')).status, 204);
    assert.equal((await request(svc.socket, 'DELETE', '/networks/apinet6')).status, 204);
  });
});
