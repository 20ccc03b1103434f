import { BlockList, isIP } from 'node:net';

/**
 * The reverse proxies whose `X-Forwarded-For` names the client (`--trust-proxy`): addresses or
 * CIDR ranges, IPv4 or IPv6. Fastify takes the matcher for `req.ip`; the per-client limits
 * (src/server/limits.ts) use it to count a proxied client by its own address, not the proxy's.
 */
export type ProxyMatcher = (address: string | undefined) => boolean;

/** Why `entry` is not an address or a CIDR range, or null when it is one. */
export function proxyEntryProblem(entry: string): string | null {
  const [addr, bits, extra] = entry.split('/');
  const family = isIP(addr ?? '');
  if (family === 0 || extra !== undefined)
    return `${JSON.stringify(entry)} is not an IP address or CIDR range`;
  if (bits === undefined) return null;
  const max = family === 4 ? 32 : 128;
  if (!/^\d+$/.test(bits) || Number(bits) > max) {
    return `${JSON.stringify(entry)} has a prefix length outside 0–${max}`;
  }
  return null;
}

/** A matcher for the validated entries; with none, nothing is trusted. */
export function proxyMatcher(entries: readonly string[]): ProxyMatcher {
  if (entries.length === 0) return () => false;
  const list = new BlockList();
  for (const e of entries) {
    const [addr, bits] = e.split('/') as [string, string | undefined];
    const type = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr, type);
    else list.addSubnet(addr, Number(bits), type);
  }
  return (address) => {
    if (!address) return false;
    // An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d.
    const v4 = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : null;
    if (v4 !== null) return list.check(v4, 'ipv4');
    const family = isIP(address);
    return family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4');
  };
}
