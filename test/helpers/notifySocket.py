# A stand-in for systemd's notification socket (sd_notify(3)): binds an AF_UNIX datagram socket
# at argv[1], prints "bound", then each datagram received as one JSON line (its KEY=VALUE fields).
# File descriptors passed along (systemd-notify's BARRIER=1 pipe) are closed at once, which is
# what the service manager does to say "processed". Ends after the barrier that follows
# STOPPING=1, or after argv[2] seconds.
import array, json, os, socket, sys, time

path, limit = sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 30.0
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(path)
print("bound", flush=True)
deadline = time.monotonic() + limit
stopping = False
while time.monotonic() < deadline:
    sock.settimeout(max(0.01, deadline - time.monotonic()))
    try:
        data, anc, _flags, _addr = sock.recvmsg(4096, socket.CMSG_SPACE(16 * 4))
    except socket.timeout:
        break
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
            for fd in fds:
                os.close(fd)
    fields = dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line)
    print(json.dumps(fields), flush=True)
    if stopping and fields.get("BARRIER") == "1":
        break
    stopping = stopping or fields.get("STOPPING") == "1"
