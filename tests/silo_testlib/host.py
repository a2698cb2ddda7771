"""silo-vmm's control socket and what the host sees of a process."""
import socket


def control(path, req, timeout=60):
    """One request on silo-vmm's control socket; its reply line."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(path))
        s.sendall(req.encode() + b"\n")
        return s.makefile().readline().strip()


def rss_kib(pid):
    """Resident KiB of a process (silo-vmm: the VMM plus guest RAM touched)."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def rss_rollup_kib(pid):
    """Resident KiB of pid: Rss from smaps_rollup (VmRSS if that is missing);
    None once the process is gone."""
    for f, key in (("smaps_rollup", "Rss:"), ("status", "VmRSS:")):
        try:
            for line in open(f"/proc/{pid}/{f}"):
                if line.startswith(key):
                    return int(line.split()[1])
        except OSError:
            pass
    return None



def thread_stacks(pid):
    """Sizes in bytes of pid's thread stacks as glibc maps them: a private
    anonymous read-write mapping right above its one-page PROT_NONE guard."""
    maps = []
    with open(f"/proc/{pid}/maps") as f:
        for ln in f:
            x = ln.split()
            lo, hi = (int(v, 16) for v in x[0].split("-"))
            maps.append((lo, hi, x[1], len(x) == 5 and x[4] == "0"))
    return [hi - lo for (glo, ghi, gperm, ganon), (lo, hi, perm, anon) in zip(maps, maps[1:])
            if ganon and anon and gperm == "---p" and ghi - glo == 4096 and ghi == lo
            and perm == "rw-p"]
