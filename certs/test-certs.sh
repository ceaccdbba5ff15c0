#!/bin/sh
# shellcheck disable=SC2016 # sh -c scripts take their arguments as $1...
# test-certs.sh - self-test for make-dev-certs.sh.
#
#   certs/test-certs.sh [-v]
#
# Generates the development PKI into a temporary directory and checks it
# with the openssl command line: chains, extensions, CRLs (CRL_CHECK and
# CRL_CHECK_ALL), idempotence, partial regeneration and --force; then real
# TLS handshakes on 127.0.0.1 with openssl s_server/s_client (mTLS good,
# revoked, wrong CA, no certificate, CN outside an allow-list is not
# checked here - that is picklewall's job; backend name verification).
# Prints "N passed, M failed"; exits 1 if anything failed.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
MK=$HERE/make-dev-certs.sh
VERBOSE=0
[ "${1:-}" = -v ] && VERBOSE=1

T=$(mktemp -d "${TMPDIR:-/tmp}/picklewall-certtest.XXXXXX")
SERVER_PID=
cleanup() {
	if [ -n "$SERVER_PID" ]; then
		kill "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

D=$T/pki
PASS=0
FAIL=0

ok() {
	PASS=$((PASS + 1))
	echo "ok   $*"
}
notok() {
	FAIL=$((FAIL + 1))
	echo "FAIL $*"
	[ -s "$T/out" ] && sed 's/^/     | /' "$T/out" | head -20
	return 0
}

# check DESC CMD...: CMD succeeds.
check() {
	desc=$1
	shift
	if "$@" >"$T/out" 2>&1; then ok "$desc"; else notok "$desc"; fi
	[ "$VERBOSE" = 0 ] || sed 's/^/     . /' "$T/out"
}

# refuse DESC PATTERN CMD...: CMD fails and its output contains PATTERN.
refuse() {
	desc=$1 pat=$2
	shift 2
	if "$@" >"$T/out" 2>&1; then
		notok "$desc (succeeded, expected: $pat)"
	elif grep -q -e "$pat" "$T/out"; then
		ok "$desc"
	else
		notok "$desc (failed without \"$pat\")"
	fi
	[ "$VERBOSE" = 0 ] || sed 's/^/     . /' "$T/out"
}

# has DESC PATTERN CMD...: CMD succeeds and its output contains PATTERN.
has() {
	desc=$1 pat=$2
	shift 2
	if ! "$@" >"$T/out" 2>&1; then
		notok "$desc (command failed)"
	elif grep -q -F -e "$pat" "$T/out"; then
		ok "$desc"
	else
		notok "$desc (no \"$pat\")"
	fi
}

verify() { openssl verify -x509_strict -CAfile "$D/ca.crt" -untrusted "$D/intermediate.crt" "$@"; }
ext() { openssl x509 -in "$D/$1.crt" -noout -ext "$2"; }
subject() { openssl x509 -in "$D/$1.crt" -noout -subject -nameopt RFC2253; }
# The fingerprint of every file in DIR (names, contents), for before/after.
snapshot() { (cd "$1" && find . -type f | LC_ALL=C sort | xargs cksum); }

ALL_FILES="ca.crt ca.key intermediate.crt intermediate.key
server.crt server.key server-chain.crt backend.crt backend.key backend-chain.crt
client.crt client.key client-chain.crt client-other.crt client-other.key
client-other-chain.crt client-revoked.crt client-revoked.key client-revoked-chain.crt
backend-client.crt backend-client.key backend-client-chain.crt
wrong-ca.crt wrong-ca.key client-wrong-ca.crt client-wrong-ca.key client-wrong-ca-chain.crt
crl.pem ca-crl.pem crl-chain.pem"
INTERMEDIATE_LEAVES="server backend client client-other client-revoked backend-client"

all_present() {
	for f in $ALL_FILES; do [ -s "$D/$f" ] || { echo "missing $f"; return 1; }; done
}
keys_private() {
	n=$(find "$D" -name '*.key' -type f | wc -l)
	[ "$n" -eq 10 ] || { echo "$n keys"; return 1; }
	bad=$(find "$D" -name '*.key' -type f ! -perm 0600)
	[ -z "$bad" ] || { echo "not 0600: $bad"; return 1; }
}
keys_match() {
	for f in "$D"/*.key; do
		b=${f%.key}
		[ "$(openssl x509 -in "$b.crt" -noout -pubkey)" = "$(openssl pkey -in "$f" -pubout)" ] ||
			{ echo "mismatch $b"; return 1; }
		openssl pkey -in "$f" -noout -text | grep -q 'NIST CURVE: P-256' ||
			{ echo "not P-256: $f"; return 1; }
	done
}
# chain_is FILE SUBJECT...: FILE holds exactly these certificates, in order.
chain_is() {
	f=$1
	shift
	got=$(openssl crl2pkcs7 -nocrl -certfile "$D/$f" | openssl pkcs7 -print_certs -noout |
		sed -n 's/^subject=.*CN = //p' | tr '\n' '|')
	want=$(printf '%s|' "$@")
	[ "$got" = "$want" ] || { echo "got $got want $want"; return 1; }
}
validity_days() {
	# valid for at least $2 and less than $3 more days
	openssl x509 -in "$D/$1.crt" -noout -checkend $(($2 * 86400)) &&
		! openssl x509 -in "$D/$1.crt" -noout -checkend $(($3 * 86400))
}

# The whole static check-up of a PKI in $D.
suite() {
	tag=$1
	check "[$tag] every file present" all_present
	check "[$tag] 10 keys, all mode 0600" keys_private
	check "[$tag] every key matches its certificate and is P-256" keys_match

	# CA profile
	has "[$tag] root: basicConstraints critical CA:TRUE" "X509v3 Basic Constraints: critical" ext ca basicConstraints
	has "[$tag] root: keyUsage critical keyCertSign,cRLSign" "Certificate Sign, CRL Sign" ext ca keyUsage
	has "[$tag] intermediate: pathlen:0" "CA:TRUE, pathlen:0" ext intermediate basicConstraints
	has "[$tag] intermediate: keyUsage keyCertSign,cRLSign" "Certificate Sign, CRL Sign" ext intermediate keyUsage
	check "[$tag] root valid for 824..825 days" validity_days ca 824 826
	check "[$tag] root is self-signed and verifies (strict)" openssl verify -x509_strict -CAfile "$D/ca.crt" "$D/ca.crt"
	check "[$tag] intermediate verifies under root (strict)" openssl verify -x509_strict -CAfile "$D/ca.crt" "$D/intermediate.crt"

	# chains
	for leaf in server backend; do
		check "[$tag] $leaf verifies via intermediate, purpose sslserver" verify -purpose sslserver "$D/$leaf.crt"
		refuse "[$tag] $leaf is not a client certificate" "unsuitable certificate purpose" verify -purpose sslclient "$D/$leaf.crt"
	done
	for leaf in client client-other client-revoked backend-client; do
		check "[$tag] $leaf verifies via intermediate, purpose sslclient" verify -purpose sslclient "$D/$leaf.crt"
		refuse "[$tag] $leaf is not a server certificate" "unsuitable certificate purpose" verify -purpose sslserver "$D/$leaf.crt"
	done
	refuse "[$tag] a leaf without the intermediate does not verify" "unable to get local issuer certificate" \
		openssl verify -CAfile "$D/ca.crt" "$D/client.crt"
	check "[$tag] server-chain.crt = localhost, intermediate" chain_is server-chain.crt localhost "picklewall dev intermediate CA"
	check "[$tag] client-chain.crt = demo-client, intermediate" chain_is client-chain.crt demo-client "picklewall dev intermediate CA"
	check "[$tag] backend-chain.crt = backend.test, intermediate" chain_is backend-chain.crt backend.test "picklewall dev intermediate CA"
	check "[$tag] client-wrong-ca-chain.crt = the leaf alone" chain_is client-wrong-ca-chain.crt demo-client
	check "[$tag] server verifies with server-chain.crt as the untrusted pool" \
		openssl verify -CAfile "$D/ca.crt" -untrusted "$D/server-chain.crt" "$D/server.crt"

	# names
	has "[$tag] server SAN DNS:localhost" "DNS:localhost" ext server subjectAltName
	has "[$tag] server SAN IP 127.0.0.1" "IP Address:127.0.0.1" ext server subjectAltName
	has "[$tag] server SAN IP ::1" "IP Address:0:0:0:0:0:0:0:1" ext server subjectAltName
	has "[$tag] server EKU serverAuth" "TLS Web Server Authentication" ext server extendedKeyUsage
	check "[$tag] server matches localhost" verify -verify_hostname localhost "$D/server.crt"
	check "[$tag] server matches 127.0.0.1" verify -verify_ip 127.0.0.1 "$D/server.crt"
	check "[$tag] server matches ::1" verify -verify_ip ::1 "$D/server.crt"
	has "[$tag] client SAN URI spiffe" "URI:spiffe://picklewall.test/demo-client" ext client subjectAltName
	has "[$tag] client SAN DNS demo-client.test" "DNS:demo-client.test" ext client subjectAltName
	has "[$tag] client EKU clientAuth" "TLS Web Client Authentication" ext client extendedKeyUsage
	has "[$tag] client CN=demo-client" "CN=demo-client," subject client
	has "[$tag] client-other CN=intruder" "CN=intruder," subject client-other
	has "[$tag] client-revoked CN=demo-client (same identity as client)" "CN=demo-client," subject client-revoked
	has "[$tag] client-wrong-ca CN=demo-client (same identity as client)" "CN=demo-client," subject client-wrong-ca
	has "[$tag] backend SAN DNS:backend.test" "DNS:backend.test" ext backend subjectAltName
	has "[$tag] backend SAN IP 127.0.0.1" "IP Address:127.0.0.1" ext backend subjectAltName
	check "[$tag] backend matches backend.test" verify -verify_hostname backend.test "$D/backend.crt"
	check "[$tag] backend matches 127.0.0.1" verify -verify_ip 127.0.0.1 "$D/backend.crt"
	refuse "[$tag] backend does not match other.test" "hostname mismatch" verify -verify_hostname other.test "$D/backend.crt"

	# revocation
	check "[$tag] CRL_CHECK + crl.pem: client ok" verify -crl_check -CRLfile "$D/crl.pem" "$D/client.crt"
	check "[$tag] CRL_CHECK + crl.pem: client-other ok" verify -crl_check -CRLfile "$D/crl.pem" "$D/client-other.crt"
	refuse "[$tag] CRL_CHECK + crl.pem: client-revoked refused" "certificate revoked" \
		verify -crl_check -CRLfile "$D/crl.pem" "$D/client-revoked.crt"
	check "[$tag] client-revoked verifies without a CRL check" verify "$D/client-revoked.crt"
	refuse "[$tag] CRL_CHECK without any CRL refuses everybody" "unable to get certificate CRL" \
		verify -crl_check "$D/client.crt"
	refuse "[$tag] CRL_CHECK_ALL + crl.pem only: intermediate has no CRL" "unable to get certificate CRL" \
		verify -crl_check_all -CRLfile "$D/crl.pem" "$D/client.crt"
	check "[$tag] CRL_CHECK_ALL + crl-chain.pem: client ok" verify -crl_check_all -CRLfile "$D/crl-chain.pem" "$D/client.crt"
	refuse "[$tag] CRL_CHECK_ALL + crl-chain.pem: client-revoked refused" "certificate revoked" \
		verify -crl_check_all -CRLfile "$D/crl-chain.pem" "$D/client-revoked.crt"
	has "[$tag] crl.pem is a v2 CRL from the intermediate with a CRL number" "X509v3 CRL Number" \
		openssl crl -in "$D/crl.pem" -noout -text
	has "[$tag] crl.pem lists the revoked serial" \
		"$(openssl x509 -in "$D/client-revoked.crt" -noout -serial | sed 's/serial=//')" \
		openssl crl -in "$D/crl.pem" -noout -text

	# wrong CA
	refuse "[$tag] client-wrong-ca refused by the dev CA" "unable to get local issuer certificate" \
		verify "$D/client-wrong-ca.crt"
	check "[$tag] client-wrong-ca verifies under wrong-ca" \
		openssl verify -x509_strict -purpose sslclient -CAfile "$D/wrong-ca.crt" "$D/client-wrong-ca.crt"
}

# ------------------------------------------------------------ generation

has "usage: no DIR prints usage" "usage:" sh -c '"$0" 2>&1; true' "$MK"
check "usage: no DIR exits 64" sh -c '"$0" 2>/dev/null; test $? -eq 64' "$MK"
check "usage: two DIRs exit 64" sh -c '"$0" a b 2>/dev/null; test $? -eq 64' "$MK"
check "usage: unknown option exits 64" sh -c '"$0" --bogus x 2>/dev/null; test $? -eq 64' "$MK"

if "$MK" "$D/sub" >"$T/first" 2>&1 && rm -rf "$D" && "$MK" "$D" >"$T/first" 2>&1; then
	ok "make-dev-certs.sh creates DIR (nested too) and succeeds"
else
	cp "$T/first" "$T/out"
	notok "make-dev-certs.sh creates DIR (nested too) and succeeds"
	echo "$PASS passed, $FAIL failed"
	exit 1
fi
n=$(grep -c '^created ' "$T/first" || true)
check "one \"created\" line per file (30)" test "$n" -eq 30
suite first

# ------------------------------------------------------------ idempotence

snapshot "$D" >"$T/snap1"
sleep 1
touch "$T/stamp"
"$MK" "$D" >"$T/second" 2>&1 || true
cp "$T/second" "$T/out"
check "second run prints nothing" test ! -s "$T/second"
snapshot "$D" >"$T/snap2"
check "second run changes no file" cmp "$T/snap1" "$T/snap2"
touched=$(find "$D" -newer "$T/stamp" | head -5)
echo "$touched" >"$T/out"
check "second run touches nothing (mtimes, .ca-db too)" test -z "$touched"

# ------------------------------------------------------------ partial regeneration

key_before=$(cksum <"$D/client.key")
rm "$D/client.crt"
"$MK" "$D" >"$T/partial" 2>&1 || true
cp "$T/partial" "$T/out"
check "missing client.crt: remade, client-chain.crt follows, nothing else" \
	test "$(cat "$T/partial")" = "created $D/client.crt
replaced $D/client-chain.crt"
check "missing client.crt: client.key kept" test "$key_before" = "$(cksum <"$D/client.key")"
check "missing client.crt: chain verifies" verify -purpose sslclient "$D/client.crt"

snapshot "$D" >"$T/snap1"
rm "$D/intermediate.key"
"$MK" "$D" >"$T/partial" 2>&1 || true
cp "$T/partial" "$T/out"
for f in intermediate.key intermediate.crt crl.pem crl-chain.pem; do
	check "missing intermediate.key: $f remade" grep -q "^replaced $D/$f\$\|^created $D/$f\$" "$T/partial"
done
for leaf in $INTERMEDIATE_LEAVES; do
	check "missing intermediate.key: $leaf.crt reissued, $leaf.key kept" \
		sh -c 'grep -q "^replaced $1/$2.crt\$" "$3" && ! grep -q "$1/$2.key" "$3"' sh "$D" "$leaf" "$T/partial"
done
for f in ca.crt ca.key ca-crl.pem wrong-ca.crt client-wrong-ca.crt; do
	check "missing intermediate.key: $f untouched" sh -c '! grep -q " $1\$" "$2"' sh "$D/$f" "$T/partial"
done
cp "$T/partial" "$T/out"
check "missing intermediate.key: 16 files written" test "$(wc -l <"$T/partial")" -eq 16

printf 'garbage\n' >"$D/server.crt"
"$MK" "$D" >"$T/partial" 2>&1 || true
cp "$T/partial" "$T/out"
check "corrupt server.crt: replaced with its chain" test "$(cat "$T/partial")" = "replaced $D/server.crt
replaced $D/server-chain.crt"

rm "$D/crl.pem"
"$MK" "$D" >"$T/partial" 2>&1 || true
cp "$T/partial" "$T/out"
check "missing crl.pem: remade, crl-chain.pem follows" test "$(cat "$T/partial")" = "created $D/crl.pem
replaced $D/crl-chain.pem"
suite partial

# ------------------------------------------------------------ --force

snapshot "$D" >"$T/snap1"
"$MK" --force "$D" >"$T/force" 2>&1 || true
cp "$T/force" "$T/out"
check "--force: 30 files replaced" test "$(grep -c '^replaced ' "$T/force")" -eq 30
changed=0
for f in $ALL_FILES; do
	a=$(grep " ./$f\$" "$T/snap1" | cut -d' ' -f1,2)
	b=$(cksum <"$D/$f" | cut -d' ' -f1,2)
	[ "$a" = "$b" ] || changed=$((changed + 1))
done
check "--force: every file's content changed (keys too)" test "$changed" -eq 30
suite force
"$MK" "$D" >"$T/out" 2>&1 || true
check "run after --force prints nothing" test ! -s "$T/out"

# ------------------------------------------------------------ real TLS on 127.0.0.1

# server LOG ARGS...: start openssl s_server on 127.0.0.1, an ephemeral
# port, one connection, -www; sets SERVER_PID and PORT.
server() {
	log=$1
	shift
	: >"$log"
	timeout 30 openssl s_server -accept 127.0.0.1:0 -naccept 1 -www "$@" >"$log" 2>&1 &
	SERVER_PID=$!
	i=0
	while ! grep -q '^ACCEPT' "$log"; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 "$SERVER_PID" 2>/dev/null; then
			PORT=
			return 1
		fi
		sleep 0.1
	done
	PORT=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$log")
	[ -n "$PORT" ]
}
stop_server() {
	if [ -n "$SERVER_PID" ]; then
		kill "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
		SERVER_PID=
	fi
}
# client NAME ARGS...: GET / through openssl s_client; output in $T/c.NAME.
client() {
	name=$1
	shift
	printf 'GET / HTTP/1.0\r\n\r\n' |
		timeout 15 openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$D/ca.crt" \
			-verify_return_error -ign_eof "$@" >"$T/c.$name" 2>&1
}
got_page() { grep -a -q 'HTTP/1.0 200 ok' "$T/c.$1"; }

# mtls CASE EXPECT PROTO SERVER-EXTRA -- CLIENT-ARGS...
#   EXPECT: ok, or a pattern the server log must show.
mtls() {
	case_=$1 expect=$2 proto=$3
	shift 3
	sargs=
	while [ "$1" != -- ]; do
		sargs="$sargs $1"
		shift
	done
	shift
	desc="TLS $proto mTLS: $case_"
	# shellcheck disable=SC2086
	if ! server "$T/s.log" -cert "$D/server.crt" -key "$D/server.key" \
		-cert_chain "$D/intermediate.crt" -Verify 2 -verify_return_error $sargs "-$proto"; then
		cp "$T/s.log" "$T/out"
		notok "$desc (s_server did not start)"
		stop_server
		return 0
	fi
	crc=0
	client "$case_" -servername localhost -verify_hostname localhost "-$proto" "$@" || crc=$?
	stop_server
	{ echo "--- client (rc $crc)"; grep -a -v '^ *[0-9a-f]\{4\} - ' "$T/c.$case_" | tail -8; \
	  echo "--- server"; tail -8 "$T/s.log"; } >"$T/out"
	if [ "$expect" = ok ]; then
		if [ "$crc" -eq 0 ] && got_page "$case_"; then ok "$desc: accepted"; else notok "$desc: not accepted"; fi
	else
		if ! got_page "$case_" && grep -q -e "$expect" "$T/s.log"; then
			ok "$desc: refused ($expect)"
		else
			notok "$desc: not refused with \"$expect\""
		fi
	fi
}

if ! command -v timeout >/dev/null 2>&1; then
	echo "skip TLS handshakes: no timeout(1)"
else
	CRL1="-CAfile $D/ca.crt -CRL $D/crl.pem -crl_check"
	# With CRLs in the CA file, as SSL_CTX_load_verify_locations() loads them.
	cat "$D/ca.crt" "$D/crl-chain.pem" >"$T/ca+crls.pem"
	cat "$D/ca.crt" "$D/crl.pem" >"$T/ca+crl1.pem"
	GOOD="-cert $D/client.crt -key $D/client.key -cert_chain $D/intermediate.crt"
	for p in tls1_3 tls1_2; do
		# shellcheck disable=SC2086
		{
		mtls "good certificate" ok $p $CRL1 -- $GOOD
		mtls "CN outside allow-list (TLS accepts; picklewall must refuse)" ok $p $CRL1 -- \
			-cert "$D/client-other.crt" -key "$D/client-other.key" -cert_chain "$D/intermediate.crt"
		mtls "revoked certificate" "num=23:certificate revoked" $p $CRL1 -- \
			-cert "$D/client-revoked.crt" -key "$D/client-revoked.key" -cert_chain "$D/intermediate.crt"
		mtls "certificate from the wrong CA" "num=20:unable to get local issuer" $p $CRL1 -- \
			-cert "$D/client-wrong-ca.crt" -key "$D/client-wrong-ca.key"
		mtls "no certificate" "peer did not return a certificate" $p $CRL1 --
		mtls "leaf without its intermediate" "num=20:unable to get local issuer" $p $CRL1 -- \
			-cert "$D/client.crt" -key "$D/client.key"
		mtls "CRL_CHECK_ALL, CRLs in the CA file: good" ok $p -CAfile "$T/ca+crls.pem" -crl_check_all -- $GOOD
		mtls "CRL_CHECK_ALL, CRLs in the CA file: revoked" "num=23:certificate revoked" $p \
			-CAfile "$T/ca+crls.pem" -crl_check_all -- \
			-cert "$D/client-revoked.crt" -key "$D/client-revoked.key" -cert_chain "$D/intermediate.crt"
		mtls "CRL_CHECK_ALL without the root's CRL refuses a good client" "num=3:unable to get certificate CRL" $p \
			-CAfile "$T/ca+crl1.pem" -crl_check_all -- $GOOD
		}
	done

	# Backend over TLS: picklewall is the client and checks the name.
	for name in backend.test other.test; do
		desc="backend TLS, expected name $name"
		if server "$T/s.log" -cert "$D/backend.crt" -key "$D/backend.key" -cert_chain "$D/intermediate.crt"; then
			crc=0
			client "$name" -servername "$name" -verify_hostname "$name" || crc=$?
			stop_server
			{ echo "--- client (rc $crc)"; grep -a -v '^ *[0-9a-f]\{4\} - ' "$T/c.$name" | tail -8; } >"$T/out"
			if [ "$name" = backend.test ]; then
				if [ "$crc" -eq 0 ] && got_page "$name"; then ok "$desc: verified"; else notok "$desc: not verified"; fi
			else
				if [ "$crc" -ne 0 ] && ! got_page "$name" && grep -q 'hostname mismatch' "$T/c.$name"; then
					ok "$desc: refused (hostname mismatch)"
				else
					notok "$desc: not refused with hostname mismatch"
				fi
			fi
		else
			cp "$T/s.log" "$T/out"
			notok "$desc (s_server did not start)"
			stop_server
		fi
	done
	if server "$T/s.log" -cert "$D/backend.crt" -key "$D/backend.key" -cert_chain "$D/intermediate.crt"; then
		crc=0
		client ip -verify_ip 127.0.0.1 || crc=$?
		stop_server
		cp "$T/c.ip" "$T/out"
		if [ "$crc" -eq 0 ] && got_page ip; then ok "backend TLS, expected IP 127.0.0.1: verified"; else notok "backend TLS, expected IP 127.0.0.1"; fi
	else
		notok "backend TLS, expected IP 127.0.0.1 (s_server did not start)"
		stop_server
	fi
fi

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
