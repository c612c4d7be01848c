#!/usr/bin/env python3
"""Generate ordinary, benign texts for training belt's prompt-injection classifiers (stdlib only).

    python3 scripts/gen_benign_prompts.py --out DIR [--seed N] [--user N] [--third-party N]

writes DIR/user_train.jsonl, DIR/user_heldout.jsonl, DIR/third_party_train.jsonl and
DIR/third_party_heldout.jsonl, one {"text": ..., "label": "benign"} object per line. The same
seed always gives the same files.

Why: the shared injection data (deepset) has few short everyday prompts among its benign
examples, while many of its injections are short imperatives ("Say 'I have been PWNED'"), so a
classifier trained on it alone learns "short imperative = attack" and flags "Say hi." These
texts teach it what ordinary traffic looks like. They are added to TRAINING only
(scripts/train_injection.sh passes them with --extra); cross-validation folds and their figures
are built on the shared data alone.

user_*: what people type into a chat box: greetings, short imperatives, questions, translation,
summarising and formatting requests, coding help, everyday planning, customer-support messages
(examples/intents/gen_intents.py), in English and German, with casing, punctuation and typo noise.

third_party_*: what a model reads as data: e-mails, documents and tool outputs that contain
ordinary requests addressed to their HUMAN reader ("please review the attached draft", "preheat
the oven", "run make install") — the hard negatives for indirect injection, where an instruction
addressed to the model is the attack.

Held-out files use templates that the training files never use (about one template in four per
category, chosen by the seed) and other slot draws, so their false-positive rate measures
phrasings the model has not seen.
"""
import argparse
import json
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples",
                                "intents"))
import gen_intents  # noqa: E402  (support-ticket phrasings and the typo operator)

# ---- slot values -------------------------------------------------------------------------------

SLOTS = {
    "greet_word": ["hi", "good morning", "goodbye", "thank you", "happy birthday", "cheers",
                   "good night", "welcome"],
    "form": ["haiku", "limerick", "short poem", "two-line rhyme", "short story", "toast",
             "birthday message", "motivational quote", "product description", "tweet"],
    "topic": ["the sea", "coffee", "winter mornings", "my dog", "a rainy Monday", "friendship",
              "the moon", "bicycles", "autumn", "a lost sock", "programming", "the city at night",
              "gardening", "pizza", "trains"],
    "joke_kind": ["joke", "pun", "riddle", "fun fact", "knock-knock joke"],
    "n": ["three", "five", "ten", "3", "5", "7", "two", "four"],
    "ideas": ["ideas", "suggestions", "names", "tips", "options"],
    "occasion": ["a team lunch", "a rainy weekend", "a first date", "a kid's party",
                 "a retirement card", "a picnic", "a small wedding", "a farewell email"],
    "category": ["European capitals", "primary colors", "noble gases", "Shakespeare plays",
                 "dog breeds", "vegetables high in iron", "board games for two", "jazz albums",
                 "programming languages", "bones in the hand"],
    "concept": ["photosynthesis", "inflation", "compound interest", "how vaccines work",
                "black holes", "the water cycle", "machine learning", "blockchain", "DNS",
                "the French Revolution", "supply and demand", "recursion"],
    "manner": ["simply", "in simple terms", "in one paragraph", "for a beginner",
               "in three sentences", "with an example", "briefly"],
    "thing": ["a thunderstorm", "the taste of mango", "a busy market", "a mountain lake",
              "an old library", "the first day of spring"],
    "country": ["Spain", "Japan", "Canada", "Australia", "Brazil", "Kenya", "Norway", "Peru",
                "Italy", "Egypt", "Portugal", "Mexico"],
    "constraint": ["Answer in one word.", "Keep it short.", "One sentence, please.",
                   "Just the name.", "Be brief.", "Only the number, please.", "In two words."],
    "task": ["boil an egg", "remove a wine stain", "tie a tie", "back up my phone",
             "change a bike tire", "make cold brew coffee", "improve my sleep",
             "start running", "learn touch typing", "fold a fitted sheet", "unclog a sink",
             "write a good CV", "save money on groceries", "negotiate a salary"],
    "person": ["my dad", "a coworker", "my sister", "a new neighbor", "my manager",
               "a five-year-old", "my grandmother"],
    "event": ["the moon landing", "World War I begin", "the printing press appear",
              "the Roman Empire fall", "the euro start", "the first iPhone come out"],
    "who_did": ["wrote Pride and Prejudice", "invented the telephone", "discovered penicillin",
                "painted The Starry Night", "composed the Four Seasons", "founded Microsoft"],
    "phenomenon": ["leaves change color", "we yawn", "bread rises", "the ocean is salty",
                   "cats purr", "planes leave white trails"],
    "term": ["'per se'", "'deja vu'", "'FOMO'", "'bandwidth'", "'quid pro quo'", "'idempotent'"],
    "pair": ["weather and climate", "a virus and bacteria", "RAM and storage", "stocks and bonds",
             "baking soda and baking powder", "latitude and longitude"],
    "phrase": ["good morning", "where is the bathroom", "I love you", "how much does it cost",
               "see you tomorrow", "happy new year", "nice to meet you", "the bill, please"],
    "lang": ["French", "German", "Italian", "Spanish", "Portuguese", "Dutch", "Japanese",
             "Korean", "Turkish", "Polish"],
    "foreign": ["gracias", "Schadenfreude", "arigato", "bonjour", "prego", "hygge"],
    "para": [
        "Photosynthesis lets plants turn sunlight, water and carbon dioxide into sugar and "
        "oxygen; it happens mostly in the leaves, inside small structures called chloroplasts.",
        "The company announced that it will open two new factories next year and hire about 800 "
        "workers, mainly engineers and technicians.",
        "Tickets for the summer festival go on sale on Monday. Children under twelve get in for "
        "free, and there will be shuttle buses from the main station.",
        "The museum will reopen in March after a two-year renovation that added a new wing for "
        "modern art and a rooftop cafe.",
        "Sales rose 8% in the third quarter, driven by strong demand in Asia, although costs for "
        "shipping and raw materials also increased.",
        "Researchers found that people who walked 30 minutes a day slept better and reported "
        "less stress than those who did not exercise.",
        "The library's new opening hours are 9 to 7 on weekdays and 10 to 4 on Saturdays; it "
        "stays closed on Sundays and public holidays.",
        "After heavy rain, the river rose above its banks and several roads near the old bridge "
        "were closed for two days.",
        "Our team moved the release to May so we can fix the remaining login bugs and finish "
        "the new onboarding screens.",
    ],
    "names": ["Marie Curie, Albert Einstein, Niels Bohr", "Katherine Johnson, Alan Shepard",
              "Frida Kahlo, Pablo Picasso, Claude Monet", "Serena Williams, Roger Federer",
              "Jane Austen, Charles Dickens, Virginia Woolf", "Nelson Mandela, Mahatma Gandhi",
              "Tom, Anna, Lukas, Mia", "Beyonce, Adele, Taylor Swift"],
    "long_text": [
        "Dear Mr. Lee, thank you for your email. Unfortunately we cannot offer a refund for the "
        "tickets, but we are happy to move your booking to another date free of charge.",
        "Hi everyone, just a reminder that the office will be closed on Friday. Please make sure "
        "your desks are tidy before you leave and take your plants home if they need water.",
        "We are pleased to inform you that your application has been accepted. Your first day "
        "will be the 3rd of June, and your team lead will contact you with the details.",
        "Once upon a time there was a small fox who lived at the edge of a forest. Every morning "
        "he walked to the river to watch the boats go by.",
        "The apartment has two bedrooms, a small balcony and a kitchen with new appliances. Rent "
        "is 1,200 a month plus utilities, and pets are allowed.",
        "Our quarterly results show steady growth in online sales, while store visits are still "
        "below last year. Marketing costs were slightly higher than planned.",
        "I bought this vacuum cleaner two months ago and it already stopped working. The battery "
        "does not charge anymore and the customer service has not replied yet.",
        "Thank you for shopping with us. Your package left our warehouse this morning and will "
        "be delivered by our partner within three business days.",
    ],
    "bad_sentence": ["their going to the park tomorow", "i has two cat and one dogs",
                     "we was late becuase of the traffic", "she dont like coffe",
                     "the meeting are at 3pm in monday"],
    "sentence": ["send me the numbers by tomorrow", "your package is late again",
                 "we can't do the meeting friday", "the app keeps crashing when I log in",
                 "I need the report asap"],
    "notes": ["lunch moved to 1pm, bring laptops, budget review after",
              "flight lands 6pm, hotel booked, dinner with client thursday"],
    "words": ["pear, apple, banana, cherry", "zebra, lion, ant, moose", "delta, alpha, echo, bravo"],
    "prog_lang": ["Python", "JavaScript", "C", "Go", "Rust", "Java", "TypeScript", "Bash"],
    "code_task": ["reverse a string", "read a file line by line", "sort a list of dictionaries by "
                  "a key", "parse a date", "remove duplicates from a list", "make an HTTP request",
                  "count word frequencies", "check if a number is prime", "merge two sorted lists"],
    "error": ["'IndexError: list index out of range'", "'segmentation fault (core dumped)'",
              "'TypeError: cannot read properties of null'", "'permission denied'",
              "'ModuleNotFoundError: No module named requests'", "'fatal: not a git repository'"],
    "code": ["for i in range(10): print(i * i)", "x = [n for n in nums if n % 2 == 0]",
             "const total = items.reduce((a, b) => a + b, 0);", "SELECT name FROM users WHERE "
             "age > 30;", "grep -rn TODO src/ | wc -l"],
    "git_task": ["rename a branch", "see who changed a line", "squash my last three commits",
                 "delete a remote branch", "discard local changes to one file"],
    "city": ["Lisbon", "Kyoto", "Vienna", "Montreal", "Edinburgh", "Barcelona", "Prague",
             "Copenhagen"],
    "ingredients": ["eggs, spinach and feta", "chickpeas and tomatoes", "leftover rice and "
                    "carrots", "salmon and potatoes", "pasta, garlic and lemon"],
    "activity": ["stretching routine", "meditation", "study plan", "morning routine",
                 "budget plan"],
    "doc": ["cover letter", "resignation letter", "complaint to my landlord", "wedding speech",
            "LinkedIn summary", "apology to a friend", "out-of-office message"],
    "calc": ["15% of 80", "12 times 14", "the square root of 144", "3/4 plus 2/3",
             "the average of 4, 8 and 15"],
    "conv": ["5 miles to kilometers", "100 Fahrenheit to Celsius", "2 cups to milliliters",
             "3 hours to seconds", "60 kg to pounds"],
    "de_greet": ["tschüss", "guten Morgen", "danke", "gute Nacht", "alles Gute"],
    "de_form": ["Gedicht", "kurzes Gedicht", "Haiku", "kurze Geschichte", "Glückwunschkarte"],
    "de_topic": ["den Herbst", "meine Katze", "das Meer", "einen Regentag", "Kaffee", "Berge"],
    "de_country": ["Spanien", "Frankreich", "Österreich", "Japan", "Kanada", "Polen"],
    "de_howto": ["koche ich Reis", "lerne ich schneller Vokabeln", "entferne ich Kalk",
                 "spare ich Strom", "wechsle ich einen Fahrradreifen"],
    "de_lang": ["Englische", "Französische", "Spanische", "Italienische"],
    "de_concept": ["die Photosynthese", "die Inflation", "den Zinseszins", "das Grundgesetz",
                   "Künstliche Intelligenz", "den Klimawandel"],
    "de_para": ["Die Stadtbibliothek öffnet nach dem Umbau im Mai wieder und bietet dann auch "
                "samstags längere Öffnungszeiten an.",
                "Die Preise für Gemüse sind im Winter gestiegen, vor allem wegen der höheren "
                "Transportkosten."],
    "de_occasion": ["einen Kindergeburtstag", "ein Teamevent", "ein verregnetes Wochenende",
                    "ein Abendessen mit Freunden"],
    "de_task": ["eine Bewerbung zu schreiben", "meinen Urlaub zu planen", "ein Rezept zu finden",
                "eine Mail an meinen Vermieter zu formulieren"],
    "de_dish": ["Kartoffelsalat", "Linsensuppe", "Apfelkuchen", "Gemüsecurry"],
}

# ---- user prompts, by category -----------------------------------------------------------------

USER = {
    "greeting": [
        "Hi", "Hey there!", "Good {daytime}!", "Hi, how's it going?", "Hello, nice to meet you.",
        "Thanks!", "Thank you so much!", "Great, thanks.", "Ok cool", "Bye!", "See you later",
        "Hey, are you there?", "Morning!", "Thanks a lot, that helps.", "Perfect, thank you!",
        "Hi! Can you help me with something?", "Hello again", "Cheers, that's great.",
    ],
    "say": [
        "Say {greet_word}.", "Say {greet_word} in {lang}.", "Say something nice to {person}.",
        "Say it again, slower.", "Say that in simpler words.", "Say {greet_word} to my friends.",
        "Just say yes or no: is {country} in Europe?",
    ],
    "imperative": [
        "Write a {form} about {topic}.", "Tell me a {joke_kind} about {topic}.",
        "Give me {n} {ideas} for {occasion}.", "List {n} {category}.", "Explain {concept} {manner}.",
        "Describe {thing} in {n} sentences.", "Name {n} {category}.",
        "Suggest a {form} idea about {topic}.", "Recommend {n} books about {topic}.",
        "Make a packing list for {occasion}.", "Create a {activity} for me.",
        "Draft a short {doc}.", "Compose a {form} for {person}.", "Calculate {calc}.",
        "Convert {conv}.", "Write {n} {ideas} for {occasion}.", "Give me a fun fact about {topic}.",
        "Write a {form} for {person}.", "Summarize the plot of Hamlet.",
        "Tell me something interesting about {country}.", "Explain {concept} to {person}.",
        "Brainstorm {n} names for a {topic} blog.", "Outline a talk about {concept}.",
    ],
    "question": [
        "What is the capital of {country}?", "What's the capital of {country}? {constraint}",
        "Who {who_did}?", "When did {event}?", "Why do {phenomenon}?",
        "What does {term} mean?", "What's the difference between {pair}?",
        "How many people live in {country}?", "Is {country} bigger than {country2}?",
        "What is {calc}?", "How do I {task}?", "How can I {task}?", "Any tips to {task}?",
        "What's the best way to {task}?", "Can you explain {concept}?", "Is it hard to {task}?",
        "How long does it take to {task}?", "What should I know before I {task}?",
        "Which is healthier, rice or pasta?", "Do you know a good way to {task}?",
    ],
    "translation": [
        "Translate '{phrase}' into {lang}.", "How do you say '{phrase}' in {lang}?",
        "What is '{foreign}' in English?", "Translate to {lang}: {phrase}",
        "Can you translate '{phrase}' to {lang} for me?", "'{phrase}' in {lang}, please.",
        "What's the {lang} word for '{phrase}'?",
    ],
    "summarize": [
        "Summarize this: {para}", "Give me a one-line summary: {para}", "TL;DR: {para}",
        "Can you summarise the following? {para}", "What are the key points here? {para}",
        "Shorten this text: {para}", "Explain this paragraph to a child: {para}",
    ],
    "format": [
        "Fix the spelling: {bad_sentence}", "Correct this sentence: {bad_sentence}",
        "Make this more polite: {sentence}", "Rewrite this in a friendly tone: {sentence}",
        "Turn these notes into an email: {notes}", "Sort these alphabetically: {words}",
        "Put this into a bullet list: {notes}", "Make this sound more formal: {sentence}",
        "Proofread this: {bad_sentence}", "Format this as a numbered list: {words}",
        "Write this as JSON with a key 'items': {words}", "Capitalize every word: {words}",
    ],
    "coding": [
        "Write a {prog_lang} function to {code_task}.", "How do I {code_task} in {prog_lang}?",
        "What does this error mean: {error}", "Why do I get {error}?", "Explain this code: {code}",
        "Convert this to {prog_lang}: {code}", "How do I {git_task} in git?",
        "Write a unit test for a function that {code_task2}.",
        "What's the time complexity of binary search?", "Review this line: {code}",
        "Is {prog_lang} a good first language?", "Write a regex that matches an email address.",
        "Give me a bash command to find large files.", "Optimize this query: {code}",
    ],
    "life": [
        "Plan a {n2}-day trip to {city}.", "What can I cook with {ingredients}?",
        "Help me write a {doc}.", "Suggest a {n2}-minute {activity}.",
        "What's a good gift for {person}?", "Make me a weekly meal plan.",
        "I have a job interview tomorrow, any advice?", "How should I prepare for a marathon?",
        "Recommend a board game for {occasion}.", "What should I pack for {city} in winter?",
        "Can you help me plan {occasion}?", "Give me a {n2}-minute workout.",
    ],
    "long": [
        "Can you make this email sound friendlier? {long_text}",
        "Please proofread the following text: {long_text}",
        "I got this message today: {long_text} How should I reply?",
        "Rewrite this in simpler words for my grandmother: {long_text}",
        "Translate this into {lang}: {long_text}",
        "What is the tone of this text? {long_text}",
        "Shorten this to one sentence: {long_text}",
        "{long_text} Can you help me write an answer?",
        "Check this for mistakes, please: {long_text}",
        "Does this sound professional? {long_text}",
        "I'm writing a {doc} and I'm stuck. {long_text} What should come next?",
    ],
    "lists": [
        "List these people with their birth years: {names}",
        "Sort these names alphabetically: {names}",
        "Who was the oldest of {names}?", "Write one sentence about each of {names}.",
        "Make a table of {names} with their professions.", "What did {names} have in common?",
        "Put these people in order of birth: {names}", "Give me a short bio of each: {names}",
    ],
    "german": [
        "Hallo!", "Guten Morgen", "Danke schön!", "Sag {de_greet}.", "Sag {de_greet} auf Englisch.",
        "Schreibe ein {de_form} über {de_topic}.", "Was ist die Hauptstadt von {de_country}?",
        "Wie {de_howto}?", "Übersetze '{phrase}' ins {de_lang}.", "Erkläre {de_concept}.",
        "Fasse zusammen: {de_para}", "Gib mir {n} Ideen für {de_occasion}.",
        "Wie viel ist 12 mal 14?", "Kannst du mir helfen, {de_task}?",
        "Schreib mir ein Rezept für {de_dish}.", "Erkläre mir {de_concept} in einfachen Worten.",
        "Was kann ich heute Abend kochen?", "Nenne {n} Sehenswürdigkeiten in {de_country}.",
    ],
}

EXTRA_SLOTS = {
    "daytime": ["morning", "afternoon", "evening"],
    "country2": ["Germany", "France", "Chile", "Sweden", "Vietnam"],
    "n2": ["2", "3", "4", "5", "10", "15", "20", "30"],
    "code_task2": ["adds two numbers", "parses a CSV line", "validates a postcode",
                   "returns the largest value"],
}

# ---- third-party texts: e-mails, documents, tool outputs ---------------------------------------

TP_SLOTS = {
    "name": ["Maria", "Tom", "Priya", "Jonas", "Aisha", "Ken", "Laura", "Omar", "Sofia", "Dave"],
    "team": ["the design team", "Finance", "the support desk", "HR", "the project office"],
    "doc": ["draft", "budget sheet", "contract", "slide deck", "proposal", "report", "invoice"],
    "day": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "next week", "end of month"],
    "time": ["9:00", "10:30", "14:00", "15:15", "16:00"],
    "room": ["Room 4B", "the main hall", "the 3rd floor kitchen", "Zoom", "the board room"],
    "order": ["#48213", "#99120", "#10455", "#77031", "A-5543"],
    "amount": ["$19.99", "$120.50", "EUR 45.00", "$230.00", "GBP 12.40"],
    "service": ["Streamly", "CloudBox", "FitTrack", "ParcelGo", "BookNest"],
    "item": ["your laptop", "a photo ID", "the signed form", "your badge", "printed copies"],
    "city": ["Oslo", "Denver", "Lyon", "Osaka", "Leeds", "Porto"],
    "ui": ["'Save'", "'Settings'", "'Export as PDF'", "'Submit'", "'Forgot password?'",
           "'Add to cart'", "'Sign out'", "\"Download invoice\"", "'Accept all'", "'Next'"],
    "quote": ["'Quarterly review'", "'urgent'", "\"Project Falcon\"", "'Team offsite 2024'",
              "'Invoice 2291'", "'draft v2'", "'read me first'"],
    "cmd": ["'npm test'", "'pip install -r requirements.txt'", "'git pull'", "'docker compose up'",
            "`cargo build --release`", "'./run.sh --help'"],
}

EMAIL_REQUESTS = [
    "Please go through the attached {doc} and add your notes before {day}.",
    "Could you confirm that the {doc} is final?",
    "Please let me know if {day} at {time} works for you.",
    "Reply to this email if you have any questions.",
    "Don't forget to bring {item} on {day}.",
    "Please fill in the attached form and return it before {day}.",
    "Can you forward this to {team}?",
    "Please sign the {doc} and send it back to me.",
    "Let me know if anything is missing.",
    "Make sure to submit your expenses before {day}.",
    "Please update your payment details in your account settings.",
    "Click the link below to confirm your email address.",
    "Call us at 555-0100 if you need help with your order.",
    "Please arrive 15 minutes early and check in at reception.",
    "Remember to change your password every few months.",
    "Write back to me with your availability for next week.",
    "Take a moment to rate your stay with us.",
    "Tell us what you think by answering a short survey.",
    "Please read the updated terms before your next purchase.",
    "Send me the final numbers when you have them.",
    "Could you book {room} for {day} at {time}?",
    "Please keep this email as your receipt.",
    "Share this with anyone on {team} who might be interested.",
    "Download the app to track your parcel in real time.",
    "Please print the boarding pass and bring it to the gate.",
    "Let us know by {day} whether you will join the dinner.",
    "Kindly settle the outstanding balance of {amount} within 14 days.",
    "Please water the plants while I'm away.",
    "Could you pick up the keys from reception on {day}?",
    "Feel free to ask me if anything is unclear.",
    "Please add your name to the sign-up sheet in the kitchen.",
    "Bring your own mug, we're trying to cut down on paper cups.",
    "Use the code WELCOME10 at checkout to get 10% off your first order.",
    "Please don't reply to this automated message.",
    "Schedule your appointment online or call our office.",
    "Check the attached timetable and tell me which slot you prefer.",
    "Visit our help center for answers to common questions.",
    "Please submit the report to {team} by {day}.",
    "Let's meet in {room} at {time} to go over the {doc}.",
    "Remind {name} to send the {doc} before the deadline.",
    "Vote for your favourite design in the poll by {day}.",
    "Please read the safety instructions before using the machine.",
    "Enter the verification code on the website to finish signing up.",
    "Review your order details below and contact us if something is wrong.",
    "Please leave the meeting room as you found it.",
    "Send your questions to {team} and we will answer them at the all-hands.",
    "If you can't attend, please ask a colleague to take notes for you.",
    "Tell {name} I said thanks for the quick turnaround.",
    "Describe the issue in as much detail as you can so we can help faster.",
    "Please explain the delay to the client before {day}.",
    "Write a short paragraph about your role for the team page.",
    "Translate the menu into English before the guests arrive.",
    "Summarize the feedback from the workshop and share it with {team}.",
    "Recommend a good restaurant near the office for the team lunch.",
    "To download your statement, click {ui} at the top of the page.",
    "Please name the folder {quote} so everyone can find it.",
    "Use the subject line {quote} when you reply.",
    "Press {ui} once you have checked the details.",
    "Before the demo, run {cmd} to make sure everything still works.",
    "The label on the box says {quote}; please keep it.",
    "If the page asks for a code, choose {ui} and follow the steps.",
]
EMAIL_FACTS = [
    "The meeting moves to {room} on {day} at {time}.",
    "Your order {order} has shipped and should arrive within three to five days.",
    "The total amount due is {amount}.",
    "We have updated our privacy policy.",
    "Attached are the minutes from {day}'s meeting.",
    "Your subscription to {service} renews on the 1st.",
    "The office will be closed on {day} for maintenance.",
    "Thanks again for your help with the {doc}.",
    "Your flight to {city} is confirmed.",
    "We received your payment of {amount}.",
    "The new coffee machine is finally working.",
    "Quarterly numbers look good overall.",
    "Your ticket has been assigned to {team}.",
    "I'm out of the office until {day} with limited access to email.",
    "The parking garage will be repainted over the weekend.",
    "Our new opening hours start on {day}.",
    "The workshop was a great success, with over 40 participants.",
    "Your password was changed successfully.",
    "The delivery was left with your neighbour.",
    "We are sorry for the inconvenience caused by the outage.",
    "{name} has joined {team} as a project manager.",
    "The train to {city} leaves from platform 7.",
    "Your refund of {amount} has been processed.",
    "The annual report is now available on the intranet.",
]
GREETINGS = ["Hi {name},", "Hello {name},", "Dear customer,", "Hi team,", "Dear {name},",
             "Hi all,", "Good morning {name},", ""]
SIGNOFFS = ["Thanks, {name}", "Best regards, {name}", "Cheers, {name}", "Kind regards, {team}",
            "The {service} team", "Thank you, {name}", ""]
SUBJECTS = ["Re: {doc}", "Meeting on {day}", "Invoice {order}", "Your order {order} has shipped",
            "Welcome to {service}", "Action required: update your details", "Reminder: {day}",
            "Quick question", "Your receipt from {service}", "Updated schedule"]

DOCS = {
    "recipe": [
        "Preheat the oven to 180 C. Grease a baking tin. Mix the flour, sugar and eggs until "
        "smooth, then fold in the {fruit}. Bake for 35 minutes and let it cool before slicing.",
        "Bring a large pot of salted water to the boil. Add the pasta and cook for 9 minutes. "
        "Meanwhile, fry the garlic in olive oil, add the {veg} and season with salt and pepper.",
        "Soak the beans overnight. Drain, rinse and simmer them for an hour with a bay leaf. "
        "Serve with rice and chopped {veg}.",
    ],
    "ui_help": [
        "To change your avatar, open your profile and select {ui}. Pick an image and confirm.",
        "Choose {ui} in the menu, then select the date range you need and press 'OK'.",
        "If you see the message 'Session expired', sign in again. Your draft is kept.",
        "Open the terminal and type {cmd}. When it finishes, you should see 'Done'.",
        "Setup: install the dependencies with {cmd}, copy 'config.example' to 'config' and "
        "start the server.",
    ],
    "howto": [
        "To reset the router, hold the button on the back for ten seconds. Wait until the light "
        "turns green, then connect again with the password printed on the label.",
        "Step 1: Unplug the printer. Step 2: Open the front cover and remove the cartridge. "
        "Step 3: Insert the new cartridge until it clicks. Step 4: Close the cover and print a "
        "test page.",
        "Open Settings, choose Notifications and turn off sounds for the apps you don't need. "
        "You can turn them back on at any time.",
        "Water the plant once a week and keep it away from direct sunlight. Repot it in spring "
        "if the roots come out of the bottom.",
    ],
    "readme": [
        "Installation: clone the repository, run ./configure and then make. Run the tests with "
        "make check. Report bugs on the issue tracker.",
        "Usage: pass the input file as the first argument. Use --verbose for more output and "
        "--help to list all options. Requires Python 3.9 or later.",
        "Contributing: fork the project, create a branch, add tests for your change and open a "
        "pull request. Please follow the style guide.",
    ],
    "notes": [
        "Meeting notes ({day}): budget approved; hiring on hold until Q3; {name} to send the "
        "vendor list. Action items: everyone review the proposal before {day}.",
        "Standup: {name} fixed the login bug; {name2} is blocked on the API keys; deploy "
        "planned for {day}. Next standup at {time}.",
    ],
    "news": [
        "The city council approved a new bike lane network on {day}. Construction starts in "
        "spring and will take about two years, officials said.",
        "Heavy snow closed several roads around {city} overnight. Drivers are asked to avoid "
        "unnecessary trips and check traffic updates before leaving.",
        "The museum reopens after renovation with a new wing for photography. Tickets can be "
        "booked online; entry is free on the first Sunday of each month.",
    ],
    "policy": [
        "Employees may work from home up to three days a week. Please agree your schedule with "
        "your manager and record it in the HR portal.",
        "Refunds are available within 30 days of purchase. Items must be unused and in the "
        "original packaging. Contact customer service to start a return.",
        "Visitors must sign in at reception and wear a badge at all times. Please escort your "
        "guests to the exit when they leave.",
    ],
    "product": [
        "This stainless steel water bottle keeps drinks cold for 24 hours. Wash by hand, do not "
        "put it in the freezer, and replace the seal once a year.",
        "The X200 headphones offer 30 hours of battery life. Charge them fully before first use "
        "and update the firmware with the companion app.",
        "Assembly: attach the legs to the table top with the four screws. Tighten them by hand "
        "first, then use the included key. Do not stand on the table.",
    ],
    "story": [
        "The old lighthouse keeper climbed the stairs every night. He would light the lamp, write "
        "a line in his logbook and watch the ships pass until dawn.",
        "Mia opened the letter slowly. It was from her grandmother, who wrote about the summer "
        "they spent at the lake and asked her to visit soon.",
    ],
    "review": [
        "Great hotel, friendly staff, and the breakfast was excellent. The room was a bit small "
        "but very clean. Would stay again.",
        "The headphones sound good but the battery only lasts about six hours. Shipping was "
        "fast. Four stars.",
    ],
    "faq": [
        "Q: How do I return an item? A: Log in, open your orders, choose the item and print the "
        "return label. Refunds arrive within 5 business days.",
        "Q: Can I change my delivery address? A: Yes, as long as the order has not shipped. Go "
        "to your orders and choose Edit address.",
    ],
    "tool": [
        '{{"city": "{city}", "temperature_c": {num}, "conditions": "cloudy", "humidity": 71}}',
        '{{"order": "{order}", "status": "in transit", "carrier": "ParcelGo", "eta": "{day}"}}',
        '[{{"title": "How to repot a cactus", "url": "https://example.org/cactus"}}, '
        '{{"title": "Cactus care basics", "url": "https://example.org/care"}}]',
        "Search results: 1. Best hiking trails near {city} - trail guide. 2. {city} weather "
        "this weekend. 3. Where to rent bikes in {city}.",
        "$ ls -l\ntotal 12\n-rw-r--r-- 1 user staff 2048 report.pdf\n-rw-r--r-- 1 user staff "
        "512 notes.txt",
        "Calendar: {day} {time} Dentist; {day} 18:00 Yoga with {name}; Friday 12:30 Lunch with "
        "{team}.",
        "ERROR 404: The page you requested was not found. Check the address or go back to the "
        "home page.",
        "Build finished: 212 tests passed, 0 failed, 3 skipped in 41.2 s.",
        "id | name | total\n1 | {name} | {amount}\n2 | {name2} | {amount}",
        '{{"ticket": 4471, "subject": "Printer offline", "status": "open", "assignee": "{name}", '
        '"last_comment": "Please restart the printer and try again."}}',
        "Stock quote: ACME Corp 142.35 (+1.2%), volume 1.3M, market cap 8.1B.",
        "Wikipedia: The red panda is a small mammal native to the eastern Himalayas and "
        "southwestern China. It has dense reddish-brown fur and a long, shaggy tail.",
        "Translation result: 'Wo ist der Bahnhof?' -> 'Where is the train station?'",
        "Reminder set for {day} at {time}: call {name} about the {doc}.",
        "Unit conversion: 10 miles = 16.09 kilometers.",
        "Route: 12 km, about 25 minutes by car. Turn left onto Main Street, then continue "
        "straight for 3 km.",
        "git log --oneline\n3f2a1c9 Fix typo in README\n8b7d2e1 Add login form validation",
        "Traceback (most recent call last):\n  File \"app.py\", line 12, in <module>\n"
        "KeyError: 'user_id'",
    ],
}
DOC_SLOTS = {"fruit": ["apples", "blueberries", "pears"], "veg": ["spinach", "peppers", "kale"],
             "name2": ["Lee", "Nina", "Marco", "Eva"], "num": ["4", "12", "21", "-3"]}

# ---- building ----------------------------------------------------------------------------------


def fill(template, rng, slots):
    out = template
    for name, values in slots.items():
        key = "{" + name + "}"
        while key in out:
            out = out.replace(key, rng.choice(values), 1)
    return out.replace("{{", "{").replace("}}", "}")


def noise(text, rng):
    """What people do to chat messages: lower case, no final punctuation, a typo, 'please'."""
    if rng.random() < 0.25:
        text = text[0].lower() + text[1:] if text[:1].isupper() else text
    if rng.random() < 0.1:
        text = text.lower()
    if rng.random() < 0.2 and text[-1:] in ".!":
        text = text[:-1]
    if rng.random() < 0.15:
        words = text.split(" ")
        i = rng.randrange(len(words))
        words[i] = gen_intents.typo(words[i], rng)
        text = " ".join(words)
    if rng.random() < 0.1 and text[:1].isalpha() and not text.lower().startswith(("please", "hi",
                                                                                   "hallo")):
        text = rng.choice(["Please ", "Could you ", "Can you "]) + text[0].lower() + text[1:]
    return text


def split_templates(templates, rng):
    """About one template in four goes to held-out only (at least one when there are 3+)."""
    idx = list(range(len(templates)))
    rng.shuffle(idx)
    k = max(1 if len(templates) >= 3 else 0, len(templates) // 4)
    held = set(idx[:k])
    return ([t for i, t in enumerate(templates) if i not in held],
            [t for i, t in enumerate(templates) if i in held])


def user_texts(templates, n, rng):
    slots = dict(SLOTS, **EXTRA_SLOTS)
    return [noise(fill(rng.choice(templates), rng, slots), rng) for _ in range(n)]


def support_texts(seed, n, rng):
    items = [t for t, _ in gen_intents.generate(seed=seed, per_intent=20)]
    rng.shuffle(items)
    return items[:n]


def email(rng, requests, facts):
    slots = dict(TP_SLOTS, **DOC_SLOTS)
    body = rng.sample(facts, rng.randint(0, 2)) + rng.sample(requests, rng.randint(1, 2))
    rng.shuffle(body)
    parts = [fill(rng.choice(GREETINGS), rng, slots)] + [fill(b, rng, slots) for b in body]
    parts.append(fill(rng.choice(SIGNOFFS), rng, slots))
    sep = rng.choice([" ", "\n", "\n\n"])
    text = sep.join(p for p in parts if p)
    if rng.random() < 0.5:  # the layout of the shared BIPIA e-mails
        text = ("SUBJECT: " + fill(rng.choice(SUBJECTS), rng, slots) + "|EMAIL_FROM: " +
                fill("{name} <{name}@example.com>", rng, slots).lower() +
                "|RECEIVED DATE: Tue, 22 Feb 2022 10:15:00 +0000|CONTENT: " + text)
    return text


def third_party_texts(n, rng, requests, facts, docs):
    slots = dict(TP_SLOTS, **DOC_SLOTS)
    out = []
    for _ in range(n):
        if rng.random() < 0.5:
            out.append(email(rng, requests, facts))
        else:
            kind = rng.choice(sorted(docs))
            out.append(fill(rng.choice(docs[kind]), rng, slots))
    return out


def generate(seed=1, n_user=700, n_third=400):
    """Returns (user_train, user_heldout, third_train, third_heldout): lists of texts."""
    rng = random.Random(seed)
    utrain, uheld = [], []
    per_cat = max(1, n_user // (len(USER) + 1))
    for cat in sorted(USER):
        tr, he = split_templates(USER[cat], rng)
        utrain += user_texts(tr, per_cat, rng)
        uheld += user_texts(he or tr, max(1, per_cat * 2 // 5), rng)
    utrain += support_texts(seed, per_cat, rng)
    uheld += support_texts(seed + 1000, max(1, per_cat * 2 // 5), rng)
    req_tr, req_he = split_templates(EMAIL_REQUESTS, rng)
    fact_tr, fact_he = split_templates(EMAIL_FACTS, rng)
    docs_tr, docs_he = {}, {}
    for kind in sorted(DOCS):
        docs_tr[kind], docs_he[kind] = split_templates(DOCS[kind], rng)
        if not docs_he[kind]:
            docs_he[kind] = docs_tr[kind]
    ttrain = third_party_texts(n_third, rng, req_tr, fact_tr, docs_tr)
    theld = third_party_texts(max(1, n_third * 2 // 5), rng, req_he, fact_he, docs_he)
    dedup = lambda xs: list(dict.fromkeys(xs))  # noqa: E731
    utrain, ttrain = dedup(utrain), dedup(ttrain)
    uheld = [t for t in dedup(uheld) if t not in set(utrain)]
    theld = [t for t in dedup(theld) if t not in set(ttrain)]
    return utrain, uheld, ttrain, theld


def write(path, texts):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps({"text": t, "label": "benign"}, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--user", type=int, default=700, help="user-input training texts (about)")
    ap.add_argument("--third-party", type=int, default=400, help="third-party training texts")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    sets = generate(a.seed, a.user, a.third_party)
    names = ["user_train", "user_heldout", "third_party_train", "third_party_heldout"]
    for name, texts in zip(names, sets):
        write(os.path.join(a.out, name + ".jsonl"), texts)
        print("%-20s %5d texts" % (name, len(texts)))


if __name__ == "__main__":
    main()
