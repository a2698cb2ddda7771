"""Debian's containerd, started by a test with a throwaway configuration, and
what drives it: ctr, a tiny OCI image written here (nothing is pulled), and a
small CRI client (the interface kubelet uses) on python3-grpcio.

The CRI messages are encoded by hand: field numbers from the CRI API
(k8s.io/cri-api pkg/apis/runtime/v1/api.proto), only those the tests use.
"""
import contextlib
import gzip
import hashlib
import io
import json
import os
import pathlib
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time

NS = "silo-test"      # ctr's namespace
CRI_NS = "k8s.io"     # the CRI plugin's
IMAGE = "docker.io/library/silo-oci-test:1"


def have_containerd():
    return all(shutil.which(b) for b in ("containerd", "ctr", "containerd-shim-runc-v2"))


# --- a tiny OCI image --------------------------------------------------------

def _blob(d, data):
    h = hashlib.sha256(data).hexdigest()
    (d / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (d / "blobs" / "sha256" / h).write_bytes(data)
    return {"digest": "sha256:" + h, "size": len(data)}


def image_archive(path, name=IMAGE):
    """An OCI image archive (image-layout) for `ctr images import`: one layer
    with one file. silo-runtime never looks at the rootfs (the VM has its
    own disk); containerd needs an image to make a container of."""
    with tempfile.TemporaryDirectory() as t:
        d = pathlib.Path(t)
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as tf:
            data = b"this rootfs is not the VM's\n"
            info = tarfile.TarInfo("README")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        layer_tar = raw.getvalue()
        layer = _blob(d, gzip.compress(layer_tar, mtime=0))
        config = _blob(d, json.dumps({
            "architecture": "amd64", "os": "linux",
            "config": {"Entrypoint": ["/pause"], "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]},
            "rootfs": {"type": "layers",
                       "diff_ids": ["sha256:" + hashlib.sha256(layer_tar).hexdigest()]},
        }).encode())
        manifest = _blob(d, json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer}],
        }).encode())
        (d / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
        (d / "index.json").write_text(json.dumps({
            "schemaVersion": 2,
            "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                           **manifest,
                           "annotations": {"io.containerd.image.name": name,
                                           "org.opencontainers.image.ref.name": "1"}}],
        }))
        with tarfile.open(path, "w") as tf:
            for p in sorted(d.rglob("*")):
                tf.add(p, arcname=str(p.relative_to(d)), recursive=False)
    return path


# --- containerd ---------------------------------------------------------------

CONFIG = """\
version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
                    "io.containerd.internal.v1.opt", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{image}"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.silo]
      runtime_type = "io.containerd.runc.v2"
      pod_annotations = ["dev.silo.*"]
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.silo.options]
        BinaryName = "{runtime}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{d}/cni"
"""


class Containerd:
    """containerd on sockets in d, its state under d; env is its (and so the
    shim's and silo-runtime's) environment."""

    def __init__(self, d, runtime, env):
        self.d = pathlib.Path(d)
        self.runtime = str(runtime)
        self.env = env
        self.sock = self.d / "containerd.sock"
        self.log = self.d / "containerd.log"
        self.proc = None

    def __enter__(self):
        self.d.mkdir(parents=True, exist_ok=True)
        (self.d / "cni").mkdir(exist_ok=True)
        cfg = self.d / "config.toml"
        cfg.write_text(CONFIG.format(d=self.d, image=IMAGE, runtime=self.runtime))
        self.proc = subprocess.Popen(["containerd", "--config", str(cfg)], env=self.env,
                                     stdin=subprocess.DEVNULL, stdout=open(self.log, "wb"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while self.ctr("version", check=None).returncode:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            assert time.monotonic() < deadline, self.log.read_text()[-3000:]
            time.sleep(0.2)
        return self

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # the shims are their own process groups; none may outlive the test
        subprocess.run(["pkill", "-KILL", "-f", f"containerd-shim-runc-v2 .*-address {self.sock}"],
                       check=False)
        # what the native snapshotter and the runc shim left under /run
        subprocess.run(["umount", "-R", "-l", str(self.d / "state")], check=False,
                       stderr=subprocess.DEVNULL)

    def ctr(self, *args, ns=NS, check=0, timeout=600, **kw):
        r = subprocess.run(["ctr", "--address", str(self.sock), "--namespace", ns, *args],
                           env=self.env, capture_output=True, timeout=timeout,
                           stdin=kw.pop("stdin", subprocess.DEVNULL), **kw)
        if check is not None:
            assert r.returncode == check, (args, r.returncode, r.stdout, r.stderr)
        return r

    def import_image(self, ns=NS):
        path = image_archive(self.d / "image.tar")
        self.ctr("images", "import", "--all-platforms", str(path), ns=ns)
        return IMAGE


# --- protobuf, by hand ----------------------------------------------------------

def _varint(n):
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def pb(*fields):
    """fields: (number, value) with value bytes/str (length-delimited), int
    (varint) or bool; None is left out; a list repeats the field."""
    out = bytearray()
    for num, v in fields:
        for x in (v if isinstance(v, list) else [v]):
            if x is None:
                continue
            if isinstance(x, (bool, int)):
                out += _varint(num << 3) + _varint(int(x))
            else:
                x = x.encode() if isinstance(x, str) else x
                out += _varint(num << 3 | 2) + _varint(len(x)) + x
    return bytes(out)


def pb_map(num, d):
    return [(num, pb((1, k), (2, v))) for k, v in d.items()]


def unpb(data):
    """{number: [values]}: varints as int, length-delimited as bytes."""
    out, i = {}, 0
    while i < len(data):
        key, i = _read_varint(data, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _read_varint(data, i)
        elif wt == 2:
            n, i = _read_varint(data, i)
            v, i = data[i:i + n], i + n
        elif wt == 1:
            v, i = data[i:i + 8], i + 8
        elif wt == 5:
            v, i = data[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wt}")
        out.setdefault(num, []).append(v)
    return out


def _read_varint(data, i):
    n = shift = 0
    while True:
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def _str(m, num):
    return m.get(num, [b""])[0].decode()


def _int(m, num):
    v = m.get(num, [0])[0]
    return v - (1 << 64) if v >= 1 << 63 else v


# --- CRI ------------------------------------------------------------------------

NODE = 2  # NamespaceMode.NODE: the pod uses the host's network (no CNI)
CONTAINER_EXITED = 2


class CRI:
    """runtime.v1.RuntimeService on containerd's socket, what kubelet calls."""

    def __init__(self, sock):
        import grpc
        self.grpc = grpc
        self.chan = grpc.insecure_channel(f"unix://{sock}")

    def call(self, method, req, timeout=600):
        f = self.chan.unary_unary(f"/runtime.v1.RuntimeService/{method}",
                                  request_serializer=lambda b: b,
                                  response_deserializer=lambda b: b)
        return unpb(f(req, timeout=timeout))

    def close(self):
        self.chan.close()

    def version(self):
        m = self.call("Version", pb((1, "v1")))
        return _str(m, 2), _str(m, 4)

    @staticmethod
    def pod_config(name, logdir, annotations=None):
        ns_opts = pb((1, NODE), (2, 1), (3, 0))     # network NODE, pid CONTAINER, ipc POD
        linux = pb((2, pb((1, ns_opts))))
        return pb((1, pb((1, name), (2, name + "-uid"), (3, "default"), (4, 0))),
                  (2, name), (3, str(logdir)),
                  *pb_map(7, annotations or {}), (8, linux))

    def run_pod(self, config, handler="silo"):
        m = self.call("RunPodSandbox", pb((1, config), (2, handler)))
        return _str(m, 1)

    def create_container(self, pod, pod_config, name, image, command, log_path,
                         env=None):
        cfg = pb((1, pb((1, name), (2, 0))), (2, pb((1, image))),
                 (3, list(command)),
                 (6, [pb((1, k), (2, v)) for k, v in (env or {}).items()]),
                 (11, log_path))
        m = self.call("CreateContainer", pb((1, pod), (2, cfg), (3, pod_config)))
        return _str(m, 1)

    def start_container(self, cid):
        self.call("StartContainer", pb((1, cid)))

    def container_status(self, cid):
        m = self.call("ContainerStatus", pb((1, cid)))
        s = unpb(m[1][0])
        return {"state": _int(s, 3), "exit_code": _int(s, 7), "reason": _str(s, 10),
                "message": _str(s, 11), "log_path": _str(s, 15)}

    def wait_exited(self, cid, timeout=600):
        deadline = time.monotonic() + timeout
        while True:
            st = self.container_status(cid)
            if st["state"] == CONTAINER_EXITED or time.monotonic() > deadline:
                return st
            time.sleep(0.5)

    def exec_sync(self, cid, cmd, timeout=120):
        m = self.call("ExecSync", pb((1, cid), (2, list(cmd)), (3, timeout)), timeout + 60)
        return m.get(1, [b""])[0], m.get(2, [b""])[0], _int(m, 3)

    def stop_container(self, cid, timeout=10):
        self.call("StopContainer", pb((1, cid), (2, timeout)))

    def remove_container(self, cid):
        self.call("RemoveContainer", pb((1, cid)))

    def stop_pod(self, pod):
        self.call("StopPodSandbox", pb((1, pod)))

    def remove_pod(self, pod):
        self.call("RemovePodSandbox", pb((1, pod)))


@contextlib.contextmanager
def cri(sock):
    c = CRI(sock)
    try:
        yield c
    finally:
        c.close()
