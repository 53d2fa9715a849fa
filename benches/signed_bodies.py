"""Writes N signed webhook bodies, one per line as `sha256=<hex>\t<body>`: a one-message
webhook each (the bench's shape), every message with its own ID."""
import hashlib, hmac, json, sys

n, secret = int(sys.argv[1]), sys.argv[2].encode()
for i in range(n):
    body = json.dumps({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
            "messages": [{"from": "16505551234", "id": f"wamid.wrk.{i}", "timestamp": "1700000000",
                          "type": "text", "text": {"body": f"Message number {i} of the load"}}],
        }}]}],
    }, separators=(",", ":"))
    signature = hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()
    print(f"sha256={signature}\t{body}")
