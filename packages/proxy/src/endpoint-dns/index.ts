/** Resolution of ServiceEntry endpoint names (`resolution: DNS` / `DNS_ROUND_ROBIN`). */
export { DnsEndpoints, type DnsEndpointsOptions } from "./dns-endpoints.js";
export {
  type DnsAddress,
  type DnsAnswer,
  type DnsSource,
  ServerDnsSource,
  SystemDnsSource,
} from "./dns-source.js";
