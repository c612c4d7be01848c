#!/usr/bin/env python3
"""Generate the support-ticket example of belt (python3 stdlib only, seeded).

    python3 examples/support/gen_tickets.py [--out DIR] [--seed N] [--tickets N]

writes into DIR (default: data/ next to this script):
  tickets.jsonl          the line's input: {id, channel, subject, text} plus gold labels
                         gold_relevance (relevant | irrelevant), gold_intent (one of the 18
                         intents of examples/intents, or null), gold_order_id ("48213" or null),
                         gold_refund_usd (the amount a refund ticket asks for, or null) and
                         gold_complexity (simple | complex)
  relevance_train.jsonl  / relevance_dev.jsonl    {text, label} to train the relevance model
  intent_train.jsonl     / intent_dev.jsonl       {text, label} for the intent model
  complexity_train.jsonl / complexity_dev.jsonl   {text, label} for the complexity model
  kb.jsonl               {id, text}: the help-centre passages a drafted reply cites

Tickets are built like examples/intents (templates x slot values through paraphrase
operators) and then dressed as real mail: about 15% are not support requests at all (spam,
newsletters, out-of-office replies, sales pitches, job applications); many carry personal data
(e-mail addresses, phone numbers) that the line must redact before anything leaves; order
numbers and amounts are written in several styles; about a quarter are complex (two issues in
one mail, escalation language, a long history). The training files come from other seeds than
the tickets, so the models are measured on texts they have not seen. Same seed, same files.
"""
import argparse
import json
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "intents"))
from gen_intents import INTENTS, SLOTS, paraphrase  # noqa: E402

REFUND_INTENTS = {"refund_request"}
AMOUNT_INTENTS = {"refund_request", "billing_error", "duplicate_charge"}

FIRST = ["jane", "omar", "li", "maria", "tom", "aisha", "lukas", "sofia", "ken", "priya", "noah",
         "emma", "diego", "yuki", "fatima", "olivia"]
LAST = ["doe", "haddad", "wang", "garcia", "becker", "khan", "muller", "rossi", "sato", "patel",
        "smith", "martin", "silva", "tanaka", "ali", "brown"]
DOMAINS = ["example.com", "mail.example.org", "example.net", "inbox.example.co.uk"]

IRRELEVANT = {
    "spam": ["congratulations! you have won a {prize}, click here to claim it",
             "limited offer: buy 2 get 1 free on all {thing} today only",
             "your parcel could not be delivered, confirm your details at this link",
             "earn $5000 a week from home, no experience needed",
             "hot singles in {city} want to meet you"],
    "newsletter": ["our weekly newsletter: 10 tips for better {thing}",
                   "new arrivals this season: discover our {thing} collection",
                   "you are receiving this because you subscribed to {thing} news",
                   "webinar invitation: the future of {thing} in {city}"],
    "auto_reply": ["i am out of the office until monday with limited access to email",
                   "thank you for your message, this is an automatic reply",
                   "i'm on vacation in {city} and will answer when i'm back",
                   "this mailbox is not monitored"],
    "pitch": ["we help e-commerce teams grow their {thing} sales by 40%",
              "are you the right person to talk to about {thing} marketing?",
              "quick question about your seo strategy for {thing}",
              "we build mobile apps for companies like yours"],
    "job": ["i am applying for the position of {role} advertised on your website",
            "please find attached my cv for the {role} job",
            "do you have openings for a {role} in {city}?"],
    "chitchat": ["thanks, all good now!", "great service last time, keep it up",
                 "just wanted to say hi", "no worries, i found it myself, thanks"],
}
FILLERS = {"prize": ["gift card", "new iphone", "cruise", "cash prize"],
           "thing": ["kitchen", "fitness", "outdoor", "office", "travel", "garden"],
           "city": SLOTS["city"], "role": ["warehouse associate", "designer", "data analyst",
                                           "support agent"]}

ESCALATION = ["this is the third time i'm writing about this and nobody helps.",
              "if this isn't fixed this week i will dispute the charge with my bank.",
              "i'm considering legal action, my lawyer is in copy.",
              "i've been a customer for ten years and this is unacceptable.",
              "i already spoke to two of your agents and got two different answers.",
              "please escalate this to a manager, i've waited three weeks."]
HISTORY = ["i ordered on the 2nd, got a confirmation, then the tracking stopped.",
           "first the {product} came late, then the replacement was the wrong colour.",
           "your chat bot told me to email, and the email bounced once.",
           "i paid with my {card} and then with paypal because the first payment hung."]

SUBJECTS = {"refund_request": "refund", "return_item": "return", "cancel_order": "cancel order",
            "cancel_subscription": "subscription", "order_status": "where is my order",
            "change_address": "address change", "billing_error": "billing problem",
            "duplicate_charge": "charged twice", "password_reset": "password",
            "account_locked": "account locked", "damaged_item": "damaged item",
            "wrong_item": "wrong item", "missing_item": "missing item",
            "payment_method": "payment method", "delivery_options": "delivery",
            "promo_code": "promo code", "invoice_request": "invoice",
            "talk_to_human": "please call me"}

KB = [
    ("kb-refund-1", "Refunds: an order can be refunded within 30 days of delivery. Refunds go back "
     "to the original payment method within 5 business days. Refunds above $150 are approved by "
     "a team lead before they are issued."),
    ("kb-refund-2", "Partial refunds: when only some items of an order are returned, the refund "
     "covers those items and their share of the shipping cost."),
    ("kb-return-1", "Returns: request a return label in your account under Orders. Items must be "
     "unused and in their original packaging. Returns are free within 30 days."),
    ("kb-cancel-1", "Cancelling an order: orders can be cancelled until they ship. Once shipped, "
     "refuse the delivery or request a return."),
    ("kb-sub-1", "Subscriptions: cancel any time in Settings > Subscription; the plan stays active "
     "until the end of the paid period. Auto-renewal can be switched off there too."),
    ("kb-status-1", "Order status: tracking updates can pause for up to 48 hours while a parcel "
     "changes carrier. Orders not delivered after 10 business days are re-shipped or refunded."),
    ("kb-address-1", "Changing the address: the address can be changed until the order ships. "
     "After that, contact the carrier with the tracking number."),
    ("kb-billing-1", "Billing errors and duplicate charges: a duplicate authorisation usually "
     "disappears within 3 business days. Charges that stay are refunded in full after review."),
    ("kb-account-1", "Locked accounts: after five failed sign-ins an account is locked for 30 "
     "minutes. A password reset unlocks it immediately."),
    ("kb-password-1", "Password reset: use 'Forgot password' on the sign-in page; the link is "
     "valid for one hour. Check the spam folder if it does not arrive."),
    ("kb-damaged-1", "Damaged, wrong or missing items: send a photo within 14 days and we ship a "
     "replacement or refund the item, whichever you prefer."),
    ("kb-payment-1", "Payment methods: we accept Visa, Mastercard, Amex and PayPal. Cards can be "
     "added or removed in Settings > Payments."),
    ("kb-delivery-1", "Delivery options: standard (3-5 business days, free over $50), express "
     "(1-2 days, $9.90) and next-day in selected cities."),
    ("kb-promo-1", "Promo codes: one code per order, entered at checkout. Codes cannot be added "
     "after the order is placed, but the difference can be refunded within 7 days."),
    ("kb-invoice-1", "Invoices: download them from Orders > Invoice. VAT invoices need the "
     "company's VAT number in the billing address before the order is placed."),
    ("kb-human-1", "Talking to a person: our agents answer by phone on weekdays 9-18. Complex "
     "cases are handled by a dedicated team within one business day."),
]


def order_slot(rng):
    """An order reference and its id (None when the customer gives no number)."""
    if rng.random() < 0.12:
        return rng.choice(["my order", "the order", "my last order"]), None
    oid = str(rng.randrange(10000, 100000))
    style = rng.choice(["#{}", "order #{}", "order {}", "order no. {}", "order number {}"])
    return style.format(oid), oid


def amount_slot(rng):
    cents = rng.choice([0, 0, 50, 99, 25])
    dollars = rng.choice([rng.randrange(8, 150), rng.randrange(150, 480)])
    value = dollars + cents / 100.0
    text = "${}".format(dollars) if cents == 0 else "${}.{:02d}".format(dollars, cents)
    return text, round(value, 2)


def fill_ticket(template, rng):
    """Fill a template, remembering the order id and the amount it mentions."""
    facts = {"order_id": None, "amount": None}
    out = template
    while "{order}" in out:
        text, oid = order_slot(rng)
        out = out.replace("{order}", text, 1)
        facts["order_id"] = facts["order_id"] or oid
    while "{amount}" in out:
        text, value = amount_slot(rng)
        out = out.replace("{amount}", text, 1)
        facts["amount"] = facts["amount"] if facts["amount"] is not None else value
    for name, values in SLOTS.items():
        key = "{" + name + "}"
        while key in out:
            out = out.replace(key, rng.choice(values), 1)
    return out, facts


def contact(rng):
    first, last = rng.choice(FIRST), rng.choice(LAST)
    r = rng.random()
    if r < 0.35:
        return " you can reach me at {}.{}@{}".format(first, last, rng.choice(DOMAINS)), first
    if r < 0.5:
        return " call me on +1 415 555 0{:03d}".format(rng.randrange(100, 200)), first
    return "", first


def relevant_ticket(rng, intent):
    """One support request: (subject, text, facts, complexity)."""
    template = rng.choice(INTENTS[intent])
    body, facts = fill_ticket(template, rng)
    if intent in REFUND_INTENTS and facts["amount"] is None and rng.random() < 0.85:
        text, value = amount_slot(rng)
        body += rng.choice([", it was {}", " ({} total)", ", the amount is {}"]).format(text)
        facts["amount"] = value
    if intent in REFUND_INTENTS and facts["order_id"] is None and rng.random() < 0.7:
        text, oid = order_slot(rng)
        if oid:
            body += " - " + text
            facts["order_id"] = oid
    body = paraphrase(body, rng)
    complexity = "simple"
    if rng.random() < 0.25:
        # complex: a second issue, and/or escalation, and/or a history of failed contacts
        complexity = "complex"
        extra = []
        parts = rng.choice([("second",), ("escalation",), ("second", "escalation"),
                            ("history", "escalation"), ("history", "second", "escalation")])
        if "history" in parts:
            h, _ = fill_ticket(rng.choice(HISTORY), rng)
            extra.append(h)
        if "second" in parts:
            other = rng.choice(sorted(set(INTENTS) - {intent}))
            second, _ = fill_ticket(rng.choice(INTENTS[other]), rng)
            extra.append("also, " + second + ".")
        if "escalation" in parts:
            extra.append(rng.choice(ESCALATION))
        body = body + ". " + " ".join(extra)
    elif rng.random() < 0.08:
        # simple tickets that sound upset but ask one routine thing
        body = body + ". " + rng.choice(["i'm really annoyed.", "please hurry.",
                                         "second email about this."])
    subject = SUBJECTS[intent]
    if rng.random() < 0.3:
        subject = subject.upper() if rng.random() < 0.3 else "re: " + subject
    return subject, body, facts, complexity


def irrelevant_ticket(rng):
    kind = rng.choice(sorted(IRRELEVANT))
    text = rng.choice(IRRELEVANT[kind])
    for name, values in FILLERS.items():
        text = text.replace("{" + name + "}", rng.choice(values))
    subject = {"spam": "you won!", "newsletter": "newsletter", "auto_reply": "automatic reply",
               "pitch": "partnership", "job": "application", "chitchat": "thanks"}[kind]
    return subject, paraphrase(text, rng)


def tickets(seed, n):
    rng = random.Random(seed)
    intents = sorted(INTENTS)
    out = []
    for i in range(n):
        tid = "T%06d" % (i + 1)
        channel = rng.choice(["email", "email", "chat", "web form"])
        if rng.random() < 0.15:
            subject, text = irrelevant_ticket(rng)
            rec = {"id": tid, "channel": channel, "subject": subject, "text": text,
                   "gold_relevance": "irrelevant", "gold_intent": None, "gold_order_id": None,
                   "gold_refund_usd": None, "gold_complexity": "simple"}
        else:
            intent = rng.choice(intents)
            subject, text, facts, complexity = relevant_ticket(rng, intent)
            pii, name = contact(rng)
            text = text + "." + pii + (" - " + name if rng.random() < 0.5 else "")
            rec = {"id": tid, "channel": channel, "subject": subject, "text": text,
                   "gold_relevance": "relevant", "gold_intent": intent,
                   "gold_order_id": facts["order_id"],
                   "gold_refund_usd": facts["amount"] if intent in REFUND_INTENTS else None,
                   "gold_complexity": complexity}
        out.append(rec)
    return out


def training_sets(seed, n):
    """(relevance, intent, complexity) lists of {text, label}."""
    rel, intent, cplx = [], [], []
    for r in tickets(seed, n):
        rel.append({"text": r["text"], "label": r["gold_relevance"]})
        if r["gold_intent"]:
            intent.append({"text": r["text"], "label": r["gold_intent"]})
            cplx.append({"text": r["text"], "label": r["gold_complexity"]})
    return rel, intent, cplx


def write_jsonl(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "data"))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--tickets", type=int, default=2000)
    ap.add_argument("--train", type=int, default=6000, help="tickets behind the training sets")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    write_jsonl(os.path.join(a.out, "tickets.jsonl"), tickets(a.seed, a.tickets))
    for name, rows in zip(("relevance", "intent", "complexity"),
                          training_sets(a.seed + 1000, a.train)):
        write_jsonl(os.path.join(a.out, name + "_train.jsonl"), rows)
    for name, rows in zip(("relevance", "intent", "complexity"),
                          training_sets(a.seed + 2000, a.train // 5)):
        write_jsonl(os.path.join(a.out, name + "_dev.jsonl"), rows)
    write_jsonl(os.path.join(a.out, "kb.jsonl"), [{"id": k, "text": t} for k, t in KB])
    print("wrote %d tickets and the training sets to %s" % (a.tickets, a.out))


if __name__ == "__main__":
    main()
