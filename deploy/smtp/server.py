"""The local SMTP server of deploy/dev.sh (aiosmtpd): accepts mail on 127.0.0.1 and stores it
in a Maildir (one file per message under <maildir>/new), where a developer reads what rtcx
sent and the tests check it. Two reserved domains let tests see real SMTP failures:
recipients at reject.invalid get 550 (permanent), at defer.invalid 451 (transient).
Usage: python server.py --maildir DIR --port PORT
"""

import argparse
import asyncio
import mailbox
import os

from aiosmtpd.smtp import SMTP


class Handler:
    def __init__(self, maildir):
        # Maildir(create=True) makes tmp/new/cur only for a folder it creates itself.
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(maildir, sub), exist_ok=True)
        self.box = mailbox.Maildir(maildir, create=True)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        domain = address.rpartition("@")[2].lower()
        if domain == "reject.invalid":
            return "550 5.1.1 Mailbox unavailable (rtcx dev server: reject.invalid)"
        if domain == "defer.invalid":
            return "451 4.3.0 Try again later (rtcx dev server: defer.invalid)"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        message = mailbox.MaildirMessage(envelope.original_content or envelope.content)
        message["X-Rtcx-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        message["X-Rtcx-Envelope-From"] = envelope.mail_from
        self.box.add(message)
        return "250 Message accepted for delivery"


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    args = parser.parse_args()
    handler = Handler(args.maildir)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler, hostname="rtcx-dev-smtp"), args.host, args.port)
    print(f"rtcx dev SMTP server on {args.host}:{args.port}, mail in {args.maildir}", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
