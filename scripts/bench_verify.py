#!/usr/bin/env python3
"""Per-envelope cost of the ingest's opening steps, with each Ed25519 backend, in one run.

    .venv/bin/python scripts/bench_verify.py [--envelopes 3000] [--rounds 5]

Rounds alternate between the backends so that a busy machine slows both alike; the figures are medians of the
rounds in microseconds per envelope: `verify` (signature only) and `open` (parse, verify, HPKE open, decode).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from edge_agent.protocol.crypto.envelope import ENVELOPE_CONTEXT, Opener, Sealer, parse_envelope
from edge_agent.protocol.crypto.verify import Ed25519Verifier, available_backends
from edge_agent.protocol.reads import PlateRead, new_read_id


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--envelopes", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    device, city = Ed25519PrivateKey.generate(), X25519PrivateKey.generate()
    sealer = Sealer("bench-0001", device, city.public_key())
    now = time.time()
    envelopes = [
        sealer.seal(PlateRead(new_read_id(), "bench-0001", "bench", f"ABC{i:04d}", 0.9, now - 1, now, 9), i)
        for i in range(args.envelopes)
    ]
    parsed = [parse_envelope(e) for e in envelopes]
    enrolled = [device.public_key()]
    results: dict[str, dict[str, list[float]]] = {b: {"verify": [], "open": []} for b in available_backends()}
    for _ in range(args.rounds):
        for backend, figures in results.items():
            verifier = Ed25519Verifier(enrolled[0], backend)
            start = time.perf_counter()
            for env in parsed:
                if not verifier.verify(env.signature, ENVELOPE_CONTEXT + env.signed):
                    raise SystemExit("a genuine signature did not verify")
            figures["verify"].append((time.perf_counter() - start) / len(parsed) * 1e6)
            opener = Opener([city], lambda _d: enrolled, verify_backend=backend)
            start = time.perf_counter()
            for data in envelopes:
                opener.open(data, "bench-0001")
            figures["open"].append((time.perf_counter() - start) / len(envelopes) * 1e6)
    out: dict[str, object] = {
        f"{backend}_{step}_us": round(statistics.median(values), 1)
        for backend, figures in results.items()
        for step, values in figures.items()
    }
    if "libsodium" in results:
        for step in ("verify", "open"):
            out[f"{step}_speedup"] = round(
                statistics.median(results["openssl"][step]) / statistics.median(results["libsodium"][step]), 2
            )
    out.update({"envelopes": args.envelopes, "rounds": args.rounds})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
