import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

/**
 * Where a webhook may point (issue 16; OWASP SSRF): http or https, no credentials in the URL, and never an address of
 * the machine's own networks — loopback, private ranges, link-local (where cloud metadata lives: 169.254.169.254,
 * fd00:ec2::254), multicast, unspecified — unless the operator allows private targets
 * (TENANTRY_WEBHOOK_ALLOW_PRIVATE). Checked when an endpoint is saved and again before every delivery, whose
 * connection then goes to the address checked (so a name that later resolves inward, DNS rebinding, gains nothing).
 */
const PRIVATE = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  PRIVATE.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fd00:ec2::254', 128],
  // IPv6 forms that carry an IPv4 address inward: NAT64 and 6to4.
  ['64:ff9b::', 96],
  ['64:ff9b:1::', 48],
  ['2002::', 16],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  PRIVATE.addSubnet(net, prefix, 'ipv6');
}
export type UrlVerdict = { ok: true; url: URL; address: string } | { ok: false; reason: string };

/** The URL's problem as a sentence, or the address to connect to. */
export async function checkWebhookUrl(raw: string, options: { allowPrivate: boolean }): Promise<UrlVerdict> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: 'not a URL' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { ok: false, reason: 'the URL must be http or https' };
  if (url.username !== '' || url.password !== '') return { ok: false, reason: 'the URL must not carry credentials (sign with the endpoint secret instead)' };
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let address = host;
  if (isIP(host) === 0) {
    try {
      address = (await lookup(host)).address;
    } catch {
      return { ok: false, reason: `${host} does not resolve` };
    }
  }
  // An IPv4 address written as IPv6 (::ffff:a.b.c.d) is judged as the IPv4 address it is.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped !== undefined) address = mapped;
  const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
  if (!options.allowPrivate && PRIVATE.check(address, family))
    return { ok: false, reason: `${host} is a private, loopback, link-local or metadata address (the operator may allow private targets)` };
  return { ok: true, url, address };
}
