"""Runner selftest: expect.json has a misspelt key; the case must fail before
anything is scanned (selftest.json)."""
import pickle
import sys

open(sys.argv[1] + '/plain.pkl', 'wb').write(pickle.dumps(None, 4))
