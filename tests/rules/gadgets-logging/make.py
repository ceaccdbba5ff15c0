"""Gadget case under rules/logging.rules: every gadget of
tests/rules/gadgets/gadget_table.py, at protocols 0-5, must be denied by
its denylist rule whatever the policy allows.  Nothing is unpickled.
"""
import os
import sys

sys.dont_write_bytecode = True     # leave no __pycache__ in the tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                os.pardir, "gadgets"))
import gadget_table  # noqa: E402

gadget_table.write_gadgets(sys.argv[1])
