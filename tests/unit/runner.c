#include <stdio.h>
#include <stdlib.h>

#include "unit.h"

#define UNIT_MAX_SUITES 64

static Suite *(*suites[UNIT_MAX_SUITES])(void);
static size_t n_suites;

void
unit_register(Suite *(*make)(void))
{
	if (n_suites == UNIT_MAX_SUITES) {
		fprintf(stderr, "unit: more than %d suites\n", UNIT_MAX_SUITES);
		abort();
	}
	suites[n_suites++] = make;
}

int
main(void)
{
	SRunner *runner;
	int failed;
	size_t i;

	if (n_suites == 0) {
		fprintf(stderr, "unit: no suites registered\n");
		return 1;
	}
	runner = srunner_create(suites[0]());
	for (i = 1; i < n_suites; i++)
		srunner_add_suite(runner, suites[i]());
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
