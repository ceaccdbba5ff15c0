/*
 * libFuzzer harness for the pickle analyzer.  Beyond "no crash, no leak,
 * no undefined behaviour", it checks the streaming contract: the input fed
 * whole and fed in chunks (sizes drawn from the input itself) must give the
 * same report, and a finished pickle never consumes more than it was given.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pvm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct outcome {
	enum pvm_status status;
	size_t consumed;
	uint64_t length, opcodes;
	size_t n_imports, n_calls, n_reasons;
	enum pw_code first_reason;
	uint64_t last_import_pos;
};

static void
check(int ok)
{
	if (!ok)
		abort();
}

static struct outcome
analyze(struct pvm *vm, const uint8_t *data, size_t size, size_t chunk)
{
	struct outcome o;
	const struct pvm_report *r;
	size_t off = 0, used, n;

	memset(&o, 0, sizeof(o));
	pvm_begin(vm);
	o.status = PVM_NEED_MORE;
	while (off < size && o.status == PVM_NEED_MORE) {
		n = size - off < chunk ? size - off : chunk;
		o.status = pvm_feed(vm, data + off, n, &used);
		check(used <= n);
		check(o.status != PVM_NEED_MORE || used == n);
		off += used;
	}
	if (o.status == PVM_NEED_MORE)
		o.status = pvm_finish(vm);
	r = pvm_report(vm);
	check((o.status == PVM_DONE) == r->complete);
	check((o.status == PVM_FAILED) == r->failed);
	check(!r->failed || r->n_reasons > 0);
	o.consumed = off;
	o.length = r->length;
	o.opcodes = r->opcodes;
	o.n_imports = r->n_imports;
	o.n_calls = r->n_calls;
	o.n_reasons = r->n_reasons;
	o.first_reason = r->n_reasons ? r->reasons[0].code : PW_OK;
	if (r->n_imports) {
		o.last_import_pos = r->imports[r->n_imports - 1].pos;
		check(r->imports[r->n_imports - 1].module.ptr != NULL);
		check(r->imports[r->n_imports - 1].name.ptr != NULL);
	}
	for (n = 0; n < r->n_calls; n++)
		check(r->calls[n].callable.ptr != NULL || r->calls[n].why != NULL);
	return o;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct pvm_limits limits = { .max_message_bytes = 1 << 20,
	    .max_memo_entries = 1 << 16 };
	struct pvm *vm = pvm_new(&limits, PVM_MEMO_PER_MESSAGE);
	struct outcome whole, split;
	size_t chunk = size ? (size_t)data[0] % 7 + 1 : 1;

	if (vm == NULL)
		return 0;
	/* A server that resumes after errors: stale memo entries and imports
	 * read at protocol 0 take their own paths. */
	pvm_set_resume(vm, size > 0 && (data[0] & 0x10));
	whole = analyze(vm, data, size, size ? size : 1);
	split = analyze(vm, data, size, chunk);
	check(whole.status == split.status);
	check(whole.consumed == split.consumed);
	check(whole.length == split.length);
	check(whole.opcodes == split.opcodes);
	check(whole.n_imports == split.n_imports);
	check(whole.n_calls == split.n_calls);
	check(whole.n_reasons == split.n_reasons);
	check(whole.first_reason == split.first_reason);
	check(whole.last_import_pos == split.last_import_pos);
	pvm_free(vm);
	return 0;
}
