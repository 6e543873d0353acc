#!/usr/bin/env python3
"""Smoke test + measurements for the real llama-server with the tiny model.

Standard library only. Starts llama-server on a free loopback port, then
checks /health, streaming and non-streaming /v1/chat/completions, max_tokens
and --n-predict limits, prompt inspection (--log-prompts-dir and
LLAMA_SERVER_SLOTS_DEBUG=1 + GET /slots), and that closing the HTTP
connection mid-stream cancels generation. Prints timings; the last line is
"N passed, N failed"; exit status 1 on any failure.

    eval "$(scripts/llama/setup.sh)"
    python3 scripts/llama/smoke_test.py --server "$LLAMA_SERVER" --model "$LLAMA_MODEL"
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

SYSTEM = "You are Olga."
USER = "tell me a joke"
RESULTS: list[tuple[str, bool, str]] = []


def check(name: str, ok: bool, detail: str = "") -> bool:
    RESULTS.append((name, ok, detail))
    print(f"{'PASS' if ok else 'FAIL'} {name}{(': ' + detail) if detail else ''}", flush=True)
    return ok


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary: str, model: str, extra: list[str], workdir: str, threads: int):
        self.port = free_port()
        self.prompts_dir = os.path.join(workdir, f"prompts-{self.port}")
        self.log_path = os.path.join(workdir, f"server-{self.port}.log")
        if "-c" not in extra:
            extra = ["-c", "512", *extra]
        self.cmd = [binary, "-m", model, "--host", "127.0.0.1", "--port", str(self.port),
                    "--threads", str(threads), "--log-prompts-dir", self.prompts_dir,
                    "--no-webui", *extra]
        env = dict(os.environ, LLAMA_SERVER_SLOTS_DEBUG="1")
        self.log = open(self.log_path, "wb")
        self.t_start = time.monotonic()
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def wait_healthy(self, timeout: float = 30.0) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama-server exited with {self.proc.returncode}; log: {self.log_path}")
            try:
                status, body = self.get("/health")
                if status == 200 and json.loads(body).get("status") == "ok":
                    return time.monotonic() - self.t_start
            except (OSError, ValueError, http.client.HTTPException):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"llama-server not healthy after {timeout}s; log: {self.log_path}")

    def conn(self, timeout: float = 60.0) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def get(self, path: str) -> tuple[int, bytes]:
        c = self.conn(5)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def post_json(self, path: str, body: dict) -> tuple[int, dict]:
        c = self.conn()
        try:
            c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
            r = c.getresponse()
            return r.status, json.loads(r.read())
        finally:
            c.close()

    def log_text(self) -> str:
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def stream_chat(srv: Server, max_tokens: int, stop_after: int | None = None) -> dict:
    """POST a streaming chat request; return chunks, timings, [DONE] seen."""
    body = {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}],
            "stream": True, "max_tokens": max_tokens}
    c = srv.conn()
    t0 = time.monotonic()
    c.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    out = {"status": r.status, "content_type": r.getheader("Content-Type"), "deltas": [], "times": [],
           "done": False, "finish_reason": None, "t0": t0}
    while True:
        line = r.readline()
        if not line:
            break
        line = line.decode("utf-8").rstrip("\r\n")
        if not line.startswith("data: "):
            continue
        data = line[len("data: "):]
        if data == "[DONE]":
            out["done"] = True
            out["t_done"] = time.monotonic()
            break
        obj = json.loads(data)
        ch = obj["choices"][0] if obj.get("choices") else {}
        if ch.get("finish_reason"):
            out["finish_reason"] = ch["finish_reason"]
        piece = (ch.get("delta") or {}).get("content")
        if piece:
            out["deltas"].append(piece)
            out["times"].append(time.monotonic())
            if stop_after is not None and len(out["deltas"]) >= stop_after:
                break
        if "timings" in obj:
            out["timings"] = obj["timings"]
    # closing the socket without reading the rest is how a client aborts
    c.sock and c.sock.close()
    c.close()
    return out


def slot_with_prompt(srv: Server) -> dict | None:
    _, body = srv.get("/slots")
    slots = [s for s in json.loads(body) if "prompt" in s]
    return max(slots, key=lambda s: s.get("id_task", -1)) if slots else None


def run(args: argparse.Namespace, work: str) -> None:
    srv = Server(args.server, args.model, [], work, args.threads)
    try:
        t_health = srv.wait_healthy()
        check("health ok", True, f"{t_health * 1000:.0f} ms from spawn to {{\"status\":\"ok\"}}")

        # warm-up request (first request pays some one-time costs)
        stream_chat(srv, 4)

        # --- streaming ----------------------------------------------------
        s = stream_chat(srv, args.max_tokens)
        check("stream: HTTP 200 text/event-stream",
              s["status"] == 200 and "text/event-stream" in (s["content_type"] or ""), str(s["content_type"]))
        n = len(s["deltas"])
        check("stream: delta.content chunks arrive incrementally",
              n >= args.max_tokens // 2 and len(set(round(t, 4) for t in s["times"])) > 1,
              f"{n} content chunks")
        check("stream: ends with data: [DONE]", s["done"])
        check("stream: finish_reason length", s["finish_reason"] == "length", str(s["finish_reason"]))
        if n:
            ttft = (s["times"][0] - s["t0"]) * 1000
            span = s["times"][-1] - s["times"][0]
            tps = (n - 1) / span if span > 0 and n > 1 else float("nan")
            print(f"  TTFT {ttft:.1f} ms, {tps:.0f} chunks/s client-side, "
                  f"total {(s['t_done'] - s['t0']) * 1000:.0f} ms for {n} chunks; "
                  f"text: {''.join(s['deltas'])[:80]!r}")

        # --- non-streaming ----------------------------------------------------
        t0 = time.monotonic()
        st, obj = srv.post_json("/v1/chat/completions", {
            "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}],
            "max_tokens": args.max_tokens})
        dt = time.monotonic() - t0
        msg = obj.get("choices", [{}])[0].get("message", {}) if st == 200 else {}
        usage = obj.get("usage", {})
        check("non-stream: content present", st == 200 and bool(msg.get("content")), f"{len(msg.get('content', ''))} chars")
        check("non-stream: completion_tokens == max_tokens (no early EOS)",
              usage.get("completion_tokens") == args.max_tokens, json.dumps(usage))
        tm = obj.get("timings", {})
        print(f"  wall {dt * 1000:.0f} ms; server timings: prompt {tm.get('prompt_n')} tok "
              f"{tm.get('prompt_ms', 0):.1f} ms, predicted {tm.get('predicted_n')} tok "
              f"{tm.get('predicted_per_second', 0):.0f} tok/s")

        # --- prompt inspection ------------------------------------------------------
        files = sorted(os.listdir(srv.prompts_dir)) if os.path.isdir(srv.prompts_dir) else []
        last = open(os.path.join(srv.prompts_dir, files[-1]), encoding="utf-8").read() if files else ""
        check("--log-prompts-dir holds the rendered prompt",
              SYSTEM in last and USER in last and "<|im_start|>assistant" in last, repr(last))
        slot = slot_with_prompt(srv)
        sp = slot.get("prompt", "") if slot else ""
        check("GET /slots (LLAMA_SERVER_SLOTS_DEBUG=1) shows prompt", SYSTEM in sp and USER in sp, repr(sp))

        # --- max_tokens / longer run -----------------------------------------------
        long_n = 200
        s = stream_chat(srv, long_n)
        check(f"stream max_tokens={long_n}: exactly {long_n} chunks, no EOS",
              len(s["deltas"]) == long_n and s["finish_reason"] == "length",
              f"{len(s['deltas'])} chunks, finish {s['finish_reason']}")
        if len(s["deltas"]) > 1:
            span = s["times"][-1] - s["times"][0]
            print(f"  {long_n} tokens: TTFT {(s['times'][0] - s['t0']) * 1000:.1f} ms, "
                  f"{(len(s['deltas']) - 1) / span:.0f} tok/s")

        # --- abort mid-stream ---------------------------------------------------------
        before = srv.log_text().count("cancel task")
        s = stream_chat(srv, 400, stop_after=5)
        deadline = time.monotonic() + 10
        slot = None
        while time.monotonic() < deadline:
            slot = slot_with_prompt(srv)
            if slot and not slot.get("is_processing"):
                break
            time.sleep(0.05)
        log = srv.log_text()
        gen = (slot or {}).get("next_token", [{}])[0].get("n_decoded")
        check("abort: closing the connection cancels the task",
              log.count("cancel task") > before and slot is not None and not slot.get("is_processing"),
              f"server log 'cancel task' lines {before}->{log.count('cancel task')}, slot n_decoded={gen} of 400")
        rel = [ln for ln in log.splitlines() if "stop processing" in ln]
        m = re.search(r"n_tokens = (\d+)", rel[-1]) if rel else None
        check("abort: generation stopped early (prompt + generated tokens < 200 of 400 asked)",
              bool(m) and int(m.group(1)) < 200, rel[-1].strip() if rel else "no 'stop processing' log line")
    finally:
        srv.stop()

    # --- server-side --n-predict --------------------------------------------------------
    srv = Server(args.server, args.model, ["-n", "8", "-c", "2048"], work, args.threads)
    try:
        srv.wait_healthy()
        body = {"messages": [{"role": "user", "content": USER}]}
        _, a = srv.post_json("/v1/chat/completions", body)
        _, b = srv.post_json("/v1/chat/completions", dict(body, max_tokens=20))
        ua, ub = a.get("usage", {}).get("completion_tokens"), b.get("usage", {}).get("completion_tokens")
        check("--n-predict 8 caps a request without max_tokens", ua == 8, f"completion_tokens={ua}")
        print(f"  with -n 8 and max_tokens=20: completion_tokens={ub} (request value wins)" if ub == 20 else
              f"  with -n 8 and max_tokens=20: completion_tokens={ub}")

        # 4 concurrent requests (4 auto slots; -c is the total KV shared by all slots)
        results: dict[int, tuple] = {}

        def one(i: int) -> None:
            try:
                st, o = srv.post_json("/v1/chat/completions", {
                    "messages": [{"role": "user", "content": f"{USER} #{i}"}], "max_tokens": 100})
                results[i] = (st, o.get("usage", {}).get("completion_tokens"))
            except Exception as e:  # noqa: BLE001
                results[i] = (type(e).__name__, None)

        ts = [threading.Thread(target=one, args=(i,)) for i in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        check("4 concurrent requests with -c 2048 all complete",
              all(v == (200, 100) for v in results.values()) and len(results) == 4, str(results))
    finally:
        srv.stop()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", default=os.environ.get("LLAMA_SERVER"), help="llama-server path (env LLAMA_SERVER)")
    p.add_argument("--model", default=os.environ.get("LLAMA_MODEL"), help="GGUF path (env LLAMA_MODEL)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--max-tokens", type=int, default=32)
    args = p.parse_args()
    if not args.server or not args.model:
        p.error("--server/--model (or LLAMA_SERVER/LLAMA_MODEL) are required; run scripts/llama/setup.sh")
    work = tempfile.mkdtemp(prefix="llama-smoke-")
    try:
        run(args, work)
    except Exception as e:  # report as a failure, not a traceback only
        check("unexpected error", False, f"{type(e).__name__}: {e}")
    passed = sum(1 for _, ok, _ in RESULTS if ok)
    failed = len(RESULTS) - passed
    if failed:
        print(f"server logs and prompt dumps kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
