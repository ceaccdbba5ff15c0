"""Gadget case under an allow-everything policy (broad.rules).

python3 make.py OUTDIR writes, for every gadget name of gadget_table.py and
every protocol 0-5, g<rule>-<name>-p<proto>.pkl (each must be denied with
that rule id), and the benign names and values (ok-*, okv-*), which must be
allowed.  Nothing is unpickled.
"""
import os
import sys

sys.dont_write_bytecode = True     # leave no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gadget_table  # noqa: E402

gadget_table.write_gadgets(sys.argv[1])
gadget_table.write_benign(sys.argv[1])
