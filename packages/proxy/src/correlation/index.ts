/** The trace-id → inbound-context store (SPEC section 4). */
export {
  boundedRecord,
  CorrelationStore,
  type CorrelationStoreOptions,
  DEFAULT_CORRELATION_MAX_BYTES,
  DEFAULT_CORRELATION_MAX_ENTRIES,
  DEFAULT_CORRELATION_TTL_MS,
  entryBytes,
  MAX_CORRELATION_KEY_LENGTH,
  MAX_RECORD_HEADERS,
  MAX_RECORD_VALUE_LENGTH,
  recordInbound,
} from "./correlation-store.js";
