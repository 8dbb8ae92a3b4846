#!/bin/sh
# Test certificates for the compose stack (deploy/compose): one CA; the Temporal frontend's certificate (name
# "temporal"); the client certificate the workers, the gateway, the codec server and the UI present (mTLS);
# the OpenTelemetry collector's. NOT for production: there, your PKI issues them (deploy/RUNBOOK.md, TLS).
set -eu
cd "$(dirname "$0")"
mkdir -p certs && cd certs
[ -f ca.pem ] || openssl req -x509 -newkey rsa:3072 -nodes -days 365 -subj "/CN=arrimage compose CA" \
    -keyout ca.key -out ca.pem
issue() {  # name, subjectAltName
    openssl req -newkey rsa:3072 -nodes -subj "/CN=$1" -keyout "$1.key" -out "$1.csr"
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$2" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 365 -extfile "$1.ext" -out "$1.pem"
    rm -f "$1.csr" "$1.ext"
}
issue temporal "DNS:temporal,DNS:localhost"
issue arrimage-client "DNS:arrimage-client"
issue otel-collector "DNS:otel-collector"
chmod 0644 ./*.pem ./*.key  # read by the containers' own users (uid 1000, 10001): test certificates only
echo "certificates in $(pwd)"
