"""`make run`: the demo backend and picklewall in front of it.

usage: python3 tests/demo/run_demo.py build/picklewall

Starts the logging receiver (tests/demo/logging_receiver.py, which really
unpickles what it gets) on 127.0.0.1:9021 and picklewall on its embedded
default config (`picklewall --print-config` shows it: TLS on
127.0.0.1:9020 with the dev certificates in certs/dev, len32 framing,
rules/logging.rules, audit log on standard output), sends one benign record
and one malicious pickle through it, and keeps both running until Ctrl-C.
"""

import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = sys.executable


def wait_port(port, seconds=5.0):
    import socket
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "build/picklewall"
    backend = subprocess.Popen([PYTHON, os.path.join(HERE,
                                "logging_receiver.py"), "9021"])
    proxy = subprocess.Popen([binary, "--embedded-config"])
    try:
        # Probing 9020 would show up in the audit log as a failed TLS
        # handshake: give the proxy a moment instead.
        time.sleep(0.5)
        if not wait_port(9021) or proxy.poll() is not None:
            print("make run: the demo did not start (is port 9020 or "
                  "9021 in use?)", file=sys.stderr)
            return 1
        send = os.path.join(HERE, "send.py")
        print("\n--- sending a benign log record:", flush=True)
        subprocess.run([PYTHON, send, "benign"], timeout=10)
        time.sleep(0.3)
        print("\n--- sending a malicious pickle (os.system):", flush=True)
        subprocess.run([PYTHON, send, "evil"], timeout=10)
        time.sleep(0.3)
        print("""
picklewall listens on 127.0.0.1:9020 (TLS, certificates in certs/dev)
in front of the logging receiver on 127.0.0.1:9021.  Its audit log is
the JSON lines above (standard output; set audit_log in a config file to
write a file instead: picklewall --print-config shows the config in use).

Try it yourself from another terminal:
    python3 tests/demo/send.py benign
    python3 tests/demo/send.py evil
Ctrl-C stops both.""", flush=True)
        while proxy.poll() is None and backend.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for p in (proxy, backend):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in (proxy, backend):
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
