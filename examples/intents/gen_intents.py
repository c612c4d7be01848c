#!/usr/bin/env python3
"""Generate the support-ticket intent data set of belt's examples (python3 stdlib only).

    python3 examples/intents/gen_intents.py [--out DIR] [--seed N] [--per-intent N]

writes DIR/train.jsonl, DIR/dev.jsonl and DIR/test.jsonl (default DIR: data/ next to this
script), one {"text": ..., "label": ...} object per line, about 70/10/20 per intent; one
template of every intent appears only in dev and test, so the evaluation measures phrasings
the model never saw. The same seed always gives the same files.

Each text is built from an intent's templates x slot values (orders, products, dates, amounts,
...) and then passed through paraphrase operators: a greeting or sign-off, a context sentence,
synonym swaps, filler words, realistic typos (swapped, dropped, doubled or neighbouring keys),
and casing / punctuation noise. Some intents are deliberately close (refund vs return, cancel
order vs cancel subscription, billing error vs duplicate charge) so that the task is not trivial.

Other code can import it:  from gen_intents import INTENTS, generate
    generate(seed=1, per_intent=200) -> list of (text, label)
"""
import argparse
import json
import os
import random

SLOTS = {
    "order": ["#{}".format(n) for n in (48213, 99120, 10455, 77031, 56002, 31877, 64410, 20986)]
    + ["order {}".format(n) for n in (3321, 8870, 1209, 5543)] + ["my order", "the order"],
    "product": ["headphones", "blender", "running shoes", "phone case", "coffee maker", "desk lamp",
                "backpack", "monitor", "winter jacket", "vacuum cleaner", "keyboard", "yoga mat"],
    "date": ["yesterday", "last week", "on monday", "two weeks ago", "on the 3rd", "this morning",
             "10 days ago", "last month"],
    "amount": ["$19.99", "$45", "$120.50", "$8.75", "$230", "59 euros", "$15", "$74.30"],
    "city": ["Berlin", "Austin", "Leeds", "Lyon", "Toronto", "Osaka", "Denver", "Porto"],
    "plan": ["premium plan", "monthly subscription", "annual membership", "pro plan", "family plan"],
    "card": ["visa", "mastercard", "credit card", "debit card", "amex", "paypal"],
}

INTENTS = {
    "refund_request": [
        "i want a refund for {order}", "can i get my money back for the {product}",
        "please refund {amount} to my {card}", "how do i get a refund for {order}",
        "i'd like to be reimbursed for the {product} i bought {date}",
        "refund me for {order} please", "is it possible to get a refund on the {product}",
        "i returned the {product} {date} but haven't got my refund"],
    "return_item": [
        "how do i return the {product}", "i want to send back the {product} from {order}",
        "can i return {order}", "what is your return policy for a {product}",
        "i need a return label for {order}", "the {product} doesn't fit, how can i return it",
        "i'd like to exchange the {product} for another size"],
    "cancel_order": [
        "cancel {order}", "please cancel my order {order}", "i want to cancel the {product} i ordered {date}",
        "can i still cancel {order} before it ships", "stop my order for the {product}",
        "i ordered by mistake, cancel {order}"],
    "cancel_subscription": [
        "cancel my {plan}", "how do i stop my {plan}", "i want to unsubscribe from the {plan}",
        "please end my {plan} at the end of the month", "turn off auto renewal on my {plan}",
        "i no longer want the {plan}, cancel it"],
    "order_status": [
        "where is {order}", "where is my {product}", "has {order} shipped yet",
        "what's the status of {order}", "my {product} still hasn't arrived",
        "tracking for {order} hasn't updated since {date}", "when will {order} arrive"],
    "change_address": [
        "i need to change the shipping address on {order}", "update my delivery address to {city}",
        "i moved to {city}, please change my address", "can i ship {order} to a different address",
        "wrong address on {order}, it should go to {city}", "change the address for my account"],
    "billing_error": [
        "i was charged the wrong amount for {order}", "my bill shows {amount} but it should be less",
        "there is an error on my invoice", "the price i paid for the {product} is wrong",
        "you overcharged me {amount}", "my {card} statement shows a charge i don't recognize"],
    "duplicate_charge": [
        "i was charged twice for {order}", "double charge of {amount} on my {card}",
        "you billed me two times for the {product}", "there are two identical payments for {order}",
        "i see the same {amount} charge twice"],
    "password_reset": [
        "i forgot my password", "how do i reset my password", "the password reset email never came",
        "i can't log in, need a new password", "reset link is not working",
        "help me change my password"],
    "account_locked": [
        "my account is locked", "i got locked out after too many attempts",
        "account suspended, why", "it says my account is disabled", "unlock my account please",
        "i can't access my account, it says blocked"],
    "damaged_item": [
        "the {product} arrived broken", "{order} came damaged", "the box was crushed and the {product} is cracked",
        "my {product} is defective", "the {product} stopped working after a day",
        "received a damaged {product} {date}"],
    "wrong_item": [
        "i received the wrong item in {order}", "you sent me a {product} instead of what i ordered",
        "this is not the {product} i ordered", "wrong size and color in {order}",
        "the package had someone else's {product}"],
    "missing_item": [
        "{order} is missing an item", "the {product} was not in the box",
        "only part of {order} arrived", "one item missing from my delivery",
        "i got the package but the {product} wasn't there"],
    "payment_method": [
        "how do i update my {card}", "can i pay with {card}", "add a new payment method",
        "my {card} expired, how do i change it", "remove my old {card} from the account",
        "do you accept {card}"],
    "delivery_options": [
        "do you ship to {city}", "how much is express shipping", "can i get next day delivery",
        "what delivery options do you have for {city}", "how long does standard shipping take",
        "is there free shipping on the {product}"],
    "promo_code": [
        "my promo code doesn't work", "how do i apply a discount code", "the coupon was rejected",
        "can i use two promo codes on {order}", "i forgot to add my discount code to {order}",
        "where do i enter a voucher"],
    "invoice_request": [
        "i need an invoice for {order}", "can you send me a receipt for {order}",
        "where can i download my invoice", "please email the invoice for the {product}",
        "i need a vat invoice for my company"],
    "talk_to_human": [
        "i want to talk to a person", "connect me to an agent", "is there a human i can speak with",
        "call me back please", "let me speak to your manager", "i need a real person, not a bot"],
}

GREETINGS = ["hi", "hello", "hey", "good morning", "hi there", "dear support", "hello team"]
SIGNOFFS = ["thanks", "thank you", "thanks in advance", "please help", "asap please", "cheers",
            "appreciate it", "regards"]
CONTEXT = ["i have been a customer for years.", "this is the second time i'm writing.",
           "nobody answered my last email.", "i'm really frustrated.", "quick question.",
           "sorry to bother you.", "i tried the app already.", "this is urgent."]
SYNONYMS = {"want": ["need", "would like"], "please": ["pls", "plz", "kindly"],
            "how do i": ["how can i", "what's the way to", "how to"], "can i": ["could i", "am i able to"],
            "my": ["my", "our"], "i'd like": ["i want", "i would like"], "received": ["got"],
            "arrived": ["came", "showed up"], "cancel": ["cancel", "call off"]}
FILLER = ["just", "actually", "basically", "really", "um", "so"]
KEYBOARD = {c: n for c, n in zip("qwertyuiopasdfghjklzxcvbnm",
                                 ["w", "qe", "wr", "et", "ry", "tu", "yi", "uo", "ip", "o", "s", "ad",
                                  "sf", "dg", "fh", "gj", "hk", "jl", "k", "x", "zc", "xv", "cb",
                                  "vn", "bm", "n"])}


def fill(template, rng):
    out = template
    for name, values in SLOTS.items():
        key = "{" + name + "}"
        while key in out:
            out = out.replace(key, rng.choice(values), 1)
    return out


def synonyms(text, rng):
    for word, alts in SYNONYMS.items():
        if word in text and rng.random() < 0.3:
            text = text.replace(word, rng.choice(alts), 1)
    return text


def typo(word, rng):
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    op = rng.randrange(4)
    if op == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if op == 1:
        return word[:i] + word[i + 1:]
    if op == 2:
        return word[:i] + word[i] + word[i:]
    near = KEYBOARD.get(word[i])
    return word[:i] + rng.choice(near) + word[i + 1:] if near else word


def noise(text, rng):
    words = text.split()
    if rng.random() < 0.25:
        words.insert(rng.randrange(len(words) + 1), rng.choice(FILLER))
    if rng.random() < 0.45:
        for _ in range(rng.choice([1, 1, 2])):
            j = rng.randrange(len(words))
            words[j] = typo(words[j], rng)
    text = " ".join(words)
    r = rng.random()
    if r < 0.45:
        text = text[0].upper() + text[1:]
    elif r < 0.52:
        text = text.upper()
    r = rng.random()
    if r < 0.3:
        text += rng.choice(["?", ".", "!", "!!", "..."])
    return text


def paraphrase(text, rng):
    text = synonyms(text, rng)
    if rng.random() < 0.3:
        text = rng.choice(CONTEXT) + " " + text
    if rng.random() < 0.35:
        text = rng.choice(GREETINGS) + rng.choice([", ", " ", "! "]) + text
    if rng.random() < 0.3:
        text += rng.choice([", ", ". ", " - "]) + rng.choice(SIGNOFFS)
    return noise(text, rng)


def generate(seed=1, per_intent=200, with_template=False):
    """Return a list of (text, label) -- or (text, label, template index) with
    with_template -- holding per_intent distinct texts for every intent."""
    rng = random.Random(seed)
    out = []
    for label in sorted(INTENTS):
        seen = set()
        tries = 0
        while len(seen) < per_intent and tries < per_intent * 50:
            tries += 1
            k = rng.randrange(len(INTENTS[label]))
            text = paraphrase(fill(INTENTS[label][k], rng), rng)
            if text not in seen:
                seen.add(text)
                out.append((text, label, k) if with_template else (text, label))
    return out


def split(items, seed):
    """Per intent, one template is held out: its texts only appear in dev and test
    (phrasings never seen in training, as in real traffic). The other texts are split
    80/6/14. Overall about 70/10/20. Items are (text, label, template index)."""
    rng = random.Random(seed + 1)
    parts = {"train": [], "dev": [], "test": []}
    for label in sorted({x[1] for x in items}):
        held = {rng.randrange(len(INTENTS[label]))}
        xs = [x for x in items if x[1] == label and x[2] not in held]
        ho = [x for x in items if x[1] == label and x[2] in held]
        rng.shuffle(xs)
        rng.shuffle(ho)
        a, b = int(len(xs) * 0.8), int(len(xs) * 0.86)
        h = len(ho) // 3
        parts["train"] += xs[:a]
        parts["dev"] += xs[a:b] + ho[:h]
        parts["test"] += xs[b:] + ho[h:]
    for xs in parts.values():
        rng.shuffle(xs)
    return {k: [(t, l) for t, l, _ in xs] for k, xs in parts.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "data"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--per-intent", type=int, default=200)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    parts = split(generate(a.seed, a.per_intent, with_template=True), a.seed)
    for name, xs in parts.items():
        path = os.path.join(a.out, name + ".jsonl")
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            for text, label in xs:
                f.write(json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    print("wrote {} intents: {}".format(len(INTENTS), ", ".join(
        "{} {}".format(len(xs), name) for name, xs in parts.items())))


if __name__ == "__main__":
    main()
