"""What scripts/bench-vm and scripts/flip-cpu both read from /proc to time
the exporter's CPU, and a free port for the servers they and the tests
(tests/deployed_clients.py) start. A module, not a command."""
import glob
import socket


def free_port():
    """A port nobody listens on: bind 0, read it, let it go."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tasks(pid):
    """(comm, run time ns from schedstat, utime+stime ticks, tid) of each
    thread."""
    out = []
    for d in glob.glob("/proc/%d/task/*" % pid):
        try:
            with open(d + "/stat") as f:
                st = f.read()
            with open(d + "/schedstat") as f:
                run_ns = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue    # the thread ended between the listing and the read
        comm = st[st.index("(") + 1:st.rindex(")")]
        rest = st[st.rindex(")") + 2:].split()
        out.append((comm, run_ns, int(rest[11]) + int(rest[12]), int(d.rsplit("/", 1)[1])))
    return out


def process_ticks(pid):
    """utime+stime of the whole process (threads that ended included)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]) + int(rest[12])
    except (OSError, IndexError, ValueError):
        return None
