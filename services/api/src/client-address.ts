/**
 * The client address that limits are counted against, normalised as
 * @fastify/rate-limit's own key generator does: an IPv4-mapped IPv6 address
 * is its IPv4 address, and any other IPv6 address counts as its /64 (one
 * customer's network; rotating through the 2^64 addresses of a /64 buys
 * nothing). `request.ip` already honours TRUST_PROXY.
 */
import { isIPv6 } from 'node:net'
import { Address6 } from 'ip-address'

export const IPV6_PREFIX = 64

export function clientAddress (ip: string): string {
  if (!isIPv6(ip)) return ip.toLowerCase()
  const address = new Address6(ip)
  if (address.isMapped4()) return address.to4().correctForm()
  return `${new Address6(`${ip}/${IPV6_PREFIX}`).startAddress().correctForm()}/${IPV6_PREFIX}`
}
