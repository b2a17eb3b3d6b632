/** Config documents several suites share. */

/** The lane label of the ASM walkthrough: header first, then the correlation store, then the pod. */
export const LANES_LABEL = `apiVersion: istio.alibabacloud.com/v1beta1
kind: TrafficLabel
metadata: {name: lanes}
spec:
  rules:
  - labels:
    - name: x-asm-prefer-tag
      valueFrom:
      - $getInboundRequestHeader(x-asm-prefer-tag)
      - $getContext(x-request-id)
      - $localLabel
    attachTo: [opentracing]`;

/** A Gateway `edge` accepting every host on port 80. */
export const EDGE_GATEWAY = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]`;
