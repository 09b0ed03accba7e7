"""order-service's call to user-service against real sockets: an instance that dies mid-answer."""

import socket
import threading

from communication.synchronous.user_client import UserClient

ANSWER = b'{"id": 1, "name": "Alice"}'


def serve_once(reply):
    """A listening socket on loopback that answers one connection with `reply` and closes."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def run():
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(reply)
        server.close()

    threading.Thread(target=run, daemon=True).start()
    return f"http://127.0.0.1:{server.getsockname()[1]}"


class Rotating:
    """Hands out the given instances in turn, as a locator over several instances does."""

    def __init__(self, urls):
        self.urls = list(urls)

    def base_url(self):
        return self.urls.pop(0)


def test_an_instance_that_breaks_off_its_answer_is_retried_on_the_next():
    broken = serve_once(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 26\r\n\r\n")
    whole = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(ANSWER)}\r\n\r\n".encode()
    healthy = serve_once(whole + ANSWER)
    client = UserClient(Rotating([broken, healthy]))
    assert client.get_user(1) == {"id": 1, "name": "Alice"}
