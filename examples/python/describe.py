#!/usr/bin/python3
"""A Cephalo protocol client in Python, written from bridge/PROTOCOL.md alone.

Sends one request to cephalo-serve and prints the reply (header and body) as JSON. Needs pyzmq
(Debian: python3-zmq, for /usr/bin/python3).

    describe.py --image crack.png --prompt "Describe the crack."
    describe.py --type generate --prompt "Say hello." --body '{"max_new_tokens": 16}'
    describe.py --type info
    describe.py --type health --endpoint tcp://127.0.0.1:5555

Exit status: 0 for an ok reply, 1 for an error or busy reply, 3 when no reply came in time.
"""

import argparse
import json
import sys
import uuid

import zmq

PROTOCOL = b"cephalo/1"


def parse_arguments():
    parser = argparse.ArgumentParser(description="Send one request to cephalo-serve.")
    parser.add_argument("--endpoint", default="tcp://127.0.0.1:5555",
                        help="the server's ROUTER endpoint (default %(default)s)")
    parser.add_argument("--type", default="describe",
                        choices=["describe", "generate", "info", "health"])
    parser.add_argument("--prompt", help="the user's message (describe, generate)")
    parser.add_argument("--image", action="append", default=[],
                        help="a PNG or JPEG file sent as an attachment (repeat for several)")
    parser.add_argument("--body", default="{}",
                        help="a JSON object of further body fields, e.g. "
                             "'{\"max_new_tokens\": 64}'; they override the flags above")
    parser.add_argument("--deadline-ms", type=int, default=60000,
                        help="how long the server may take (default %(default)s)")
    args = parser.parse_args()
    try:
        args.extra = json.loads(args.body)
    except json.JSONDecodeError as error:
        parser.error(f"--body is not JSON: {error}")
    if not isinstance(args.extra, dict):
        parser.error("--body must be a JSON object")
    if args.type in ("describe", "generate") and args.prompt is None and "prompt" not in args.extra:
        parser.error(f"--type {args.type} needs --prompt")
    if args.type != "describe" and args.image:
        parser.error("only describe requests carry images")
    if args.deadline_ms <= 0:
        parser.error("--deadline-ms must be > 0")
    return args


def request_frames(args, request_id):
    header = {"id": request_id, "type": args.type, "deadline_ms": args.deadline_ms}
    body = {}
    if args.prompt is not None:
        body["prompt"] = args.prompt
    body.update(args.extra)
    attachments = []
    for path in args.image:
        with open(path, "rb") as image:
            attachments.append(image.read())
    return [PROTOCOL, json.dumps(header).encode(), json.dumps(body).encode(), *attachments]


def wait_for_reply(socket, request_id, wait_ms):
    """The reply to request_id, or None; replies to other ids are skipped."""
    poller = zmq.Poller()
    poller.register(socket, zmq.POLLIN)
    while poller.poll(wait_ms):
        frames = socket.recv_multipart()
        if len(frames) < 3 or not frames[0].startswith(b"cephalo/"):
            continue
        header, body = json.loads(frames[1]), json.loads(frames[2])
        if header.get("id") in (request_id, ""):    # "" : too damaged to read an id
            return header, body
    return None


def main():
    args = parse_arguments()
    context = zmq.Context()
    socket = context.socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(args.endpoint)
    request_id = str(uuid.uuid4())
    socket.send_multipart(request_frames(args, request_id))
    # the deadline counts from when the server receives the request: allow for the trip
    reply = wait_for_reply(socket, request_id, args.deadline_ms + 2000)
    socket.close()
    context.term()
    if reply is None:
        print(f"describe.py: no reply from {args.endpoint} within {args.deadline_ms + 2000} ms",
              file=sys.stderr)
        return 3
    header, body = reply
    print(json.dumps({"header": header, "body": body}, indent=2))
    return 0 if header.get("status") == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
