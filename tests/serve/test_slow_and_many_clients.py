"""Slow or stalled clients and floods of connections are bounded; the server keeps serving."""

import json
import socket
import time
from urllib.parse import urlsplit

import httpx


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname, parts.port


def _read_response(sock) -> str:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    while len(body) < length:
        body += sock.recv(65536)
    return (head + b"\r\n\r\n" + body).decode()


def _good_request(served, url: str) -> None:
    rows = served.rows(slice(0, 2))
    answer = httpx.post(f"{url}/v1/models/{served.path.name}:predict", json={"instances": rows}, timeout=30)
    assert answer.status_code == 200 and len(answer.json()["predictions"]) == 2


def test_a_body_that_stalls_gets_408_and_the_server_keeps_serving(mpg, start_server):
    server = start_server(mpg, body_timeout=1.0)
    body = json.dumps({"instances": mpg.rows(slice(0, 1))}).encode()
    with socket.create_connection(_address(server.url), timeout=10) as sock:
        head = (f"POST /v1/models/{mpg.path.name}:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        sock.sendall(head + body[:10])  # ... and then nothing more
        started = time.monotonic()
        reply = _read_response(sock)
        waited = time.monotonic() - started
    assert reply.startswith("HTTP/1.1 408") and '"error"' in reply and "did not arrive within 1 s" in reply
    assert waited < 10  # answered by the body timeout, not by the socket giving up
    _good_request(mpg, server.url)


def test_a_body_sent_slowly_but_in_time_is_accepted(mpg, start_server):
    server = start_server(mpg, body_timeout=5.0)
    body = json.dumps({"instances": mpg.rows(slice(0, 1))}).encode()
    with socket.create_connection(_address(server.url), timeout=10) as sock:
        sock.sendall((f"POST /v1/models/{mpg.path.name}:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {len(body)}\r\n\r\n").encode())
        for i in range(0, len(body), max(len(body) // 4, 1)):
            sock.sendall(body[i : i + max(len(body) // 4, 1)])
            time.sleep(0.2)
        reply = _read_response(sock)
    assert reply.startswith("HTTP/1.1 200")


def test_hundreds_of_idle_connections_do_not_stop_the_server(mpg, start_server):
    server = start_server(mpg)
    idle = []
    try:
        for _ in range(300):  # loopback only, bounded
            idle.append(socket.create_connection(_address(server.url), timeout=10))
        _good_request(mpg, server.url)  # still answering while they hang around
    finally:
        for sock in idle:
            sock.close()
    _good_request(mpg, server.url)
