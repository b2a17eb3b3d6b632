#!/bin/sh
# The injector's TLS pair, without cert-manager: a private CA and a serving certificate for
# lanecar-injector.lanecar-system.svc, stored as the Secret lanecar-injector-tls, with the CA
# written into the MutatingWebhookConfiguration's caBundle (kube-apiserver verifies the injector
# with it). Run it after `kubectl apply -f deploy/kubernetes/`; run it again to rotate (the
# injector re-reads the Secret's files, no restart).
#
#   deploy/kubernetes/webhook-cert.sh               # generate, create the Secret, patch caBundle
#   deploy/kubernetes/webhook-cert.sh --out DIR     # only write ca.crt, tls.crt, tls.key to DIR
#
# Needs openssl (and kubectl unless --out). Environment: NAMESPACE (lanecar-system),
# SERVICE (lanecar-injector), DAYS (365).
set -eu
NAMESPACE=${NAMESPACE:-lanecar-system}
SERVICE=${SERVICE:-lanecar-injector}
DAYS=${DAYS:-365}
OUT=""
if [ "${1:-}" = "--out" ]; then
  OUT=${2:?--out needs a directory}
  mkdir -p "$OUT"
  DIR=$OUT
else
  DIR=$(mktemp -d)
  trap 'rm -rf "$DIR"' EXIT
fi
HOST="$SERVICE.$NAMESPACE.svc"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
  -subj "/CN=lanecar-injector-ca" -keyout "$DIR/ca.key" -out "$DIR/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -subj "/CN=$HOST" -keyout "$DIR/tls.key" -out "$DIR/tls.csr" 2>/dev/null
printf 'subjectAltName=DNS:%s,DNS:%s.cluster.local\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' \
  "$HOST" "$HOST" > "$DIR/ext.cnf"
openssl x509 -req -in "$DIR/tls.csr" -CA "$DIR/ca.crt" -CAkey "$DIR/ca.key" -CAcreateserial \
  -days "$DAYS" -extfile "$DIR/ext.cnf" -out "$DIR/tls.crt" 2>/dev/null
rm -f "$DIR/tls.csr" "$DIR/ext.cnf" "$DIR/ca.srl"
# The CA key is not needed again: a rotation makes a new CA and a new caBundle.
rm -f "$DIR/ca.key"

if [ -n "$OUT" ]; then
  echo "wrote $OUT/ca.crt $OUT/tls.crt $OUT/tls.key"
  exit 0
fi
kubectl -n "$NAMESPACE" create secret tls lanecar-injector-tls \
  --cert "$DIR/tls.crt" --key "$DIR/tls.key" --dry-run=client -o yaml | kubectl apply -f -
CA_BUNDLE=$(base64 < "$DIR/ca.crt" | tr -d '\n')
kubectl patch mutatingwebhookconfiguration lanecar-injector --type=json \
  -p "[{\"op\":\"replace\",\"path\":\"/webhooks/0/clientConfig/caBundle\",\"value\":\"$CA_BUNDLE\"}]"
echo "lanecar-injector-tls created; caBundle set"
