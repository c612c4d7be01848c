/*
 * inject.c — rule side of the prompt-injection guard (see inject.h).
 *
 * A text is normalised (Unicode look-alikes folded, invisible characters dropped and counted,
 * lower-cased), then matched by a table of weighted rules. Variants catch obfuscation: the
 * leetspeak-decoded text, the letters-only ("squeezed") text for spaced-out words, rot13 and
 * reversed text (core rules only), and every base64 / hex / %xx / \uXXXX payload found in the
 * original text, decoded and checked recursively. A rule counts once whichever variant found it;
 * the score is the noisy-or of the weights of the rules that matched. Cost: one Aho–Corasick
 * pass per variant over the literals every rule requires (inject_prefilter.c) picks the rules
 * PCRE2 has to run; rot13 / reversed / leet variants are built only when one of their core
 * rules' literals shows up, payload decoding only when a long enough run exists. Weights differ
 * by source:
 * third-party text (documents, e-mails, tool output) has extra rules for instructions aimed at
 * the model, which are normal in user input but suspicious in data.
 */
#include "belt_config.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <pcre2.h>
#include <sodium.h>
#include <string.h>

#include "guard/inject.h"
#include "guard/inject_prefilter.h"
#include "util/error.h"
#include "util/utf8.h"

/* ---- the rule table -------------------------------------------------------------------------- */

enum {
    R_CORE = 1, /* also run on rot13 / reversed / leet variants */
    R_SQZ = 2   /* pattern is for the letters-only variant */
};

struct rule {
    const char *id;      /* "category.name", shown as the reason */
    double w_user;       /* weight for user input */
    double w_third;      /* weight for third-party text */
    unsigned flags;      /* R_* */
    const char *pattern; /* PCRE2 over normalised (lower-case) text */
};

/* Override verbs: "strong" ones say "do not obey"; "weak" ones (reset, delete, cancel, ...) are
 * everyday words ("reset your password", "cancel my previous order") and count only with an
 * object that is unmistakably the model's instructions. */
#define STRONG_VERB                                                                                \
    "(?:ignore|ignoring|disregard|forget|override|overwrite|bypass|neglect|abandon|dismiss|"       \
    "discard|nullify|revoke|throw away|put aside|set aside|leave behind|pay no attention to|"      \
    "do not follow|don't follow|stop following)"
#define ANY_VERB                                                                                   \
    "(?:ignore|ignoring|disregard|forget|skip|drop|override|overwrite|bypass|neglect|omit|"        \
    "abandon|dismiss|discard|delete|erase|cancel|suspend|revoke|nullify|throw away|put aside|"     \
    "remove|clear|wipe|reset|leave behind|"                                                        \
    "set aside|pay no attention to|do not follow|don't follow|stop following)"
/* Words that place the object before this message ("all previous ..."); PRIOR_WORDS adds
 * determiners that only count with an instruction-like object. */
#define PRIOR_REAL                                                                                 \
    "(?:previous|previously|prior|preceding|above|earlier|former|foregoing|initial|original|"      \
    "old|all|any|every|system|developer|given|existing)"
#define PRIOR_WORDS "(?:" PRIOR_REAL "|your|these|those|the|current|default)"
/* What the model was told: unmistakable words, and looser ones (tasks, messages, text, ...)
 * that need a PRIOR_REAL word and a strong verb. */
#define INSTRUCTION_STRONG                                                                         \
    "(?:instructions?|prompts?|directions?|directives?|rules|guidelines|constraints|"              \
    "restrictions|programming|guidance|policies|policy|limitations)"
#define INSTRUCTION_WORDS "(?:" INSTRUCTION_STRONG "|commands?|orders|context|tasks?|assignments?)"
#define INSTRUCTION_LOOSE "(?:text|messages?|conversation|information|inputs?|requests?|content)"
#define GERMAN_PRIOR                                                                               \
    "(?:vorherigen?|vorigen?|bisherigen?|obigen?|oben|vorangehenden?|vorangegangenen?|früheren?|" \
    "alten?|ursprünglichen?|gegebenen?|erhaltenen?|alle|allen|sämtliche|deine|ihre|die|den|der)"
#define GERMAN_INSTR                                                                               \
    "(?:anweisung(?:en)?|befehl(?:e|en)?|aufgabe(?:n)?|vorgabe(?:n)?|regeln?|instruktion(?:en)?|"  \
    "informationen|prompts?|richtlinien|anordnungen|texte?)"

/* The answer formats people ask for ("just say yes or no", "respond only with a number"):
 * not the arbitrary payload an output hijack makes the model say. */
#define ANSWER_FORMAT                                                                              \
    ":? (?:with )?(?:yes|no|true|false|ok|a number|the number|numbers|digits|one word|"            \
    "a single word|one sentence|one letter|a letter|the (?:answer|result|name|code|number|"        \
    "letter|date|total|price|sum|final answer))\\b"

static const struct rule rules[] = {
    /* Instruction override. */
    {"override.ignore_previous", 0.9, 0.95, R_CORE,
     "\\b" STRONG_VERB "\\b[^.!?\\n]{0,40}?\\b" PRIOR_WORDS
     "\\b[^.!?\\n]{0,30}?\\b" INSTRUCTION_WORDS "\\b"},
    {"override.ignore_previous", 0.9, 0.95, R_CORE,
     "\\b" ANY_VERB "\\b[^.!?\\n]{0,40}?\\b" PRIOR_REAL "\\b[^.!?\\n]{0,30}?\\b" INSTRUCTION_STRONG
     "\\b"},
    {"override.ignore_previous", 0.9, 0.95, R_CORE,
     "\\b" STRONG_VERB "\\b[^.!?\\n]{0,40}?(?<!\\bmy )\\b" PRIOR_REAL
     "\\b[^.!?\\n]{0,30}?\\b" INSTRUCTION_LOOSE "\\b"},
    {"override.ignore_previous", 0.9, 0.95, R_SQZ,
     "(?:ignore|disregard|forget|bypass|override)(?:all|any|the|your|my)?(?:previous|prior|"
     "above|preceding|earlier|initial|original|system)?(?:instructions?|prompts?|rules|"
     "directions|guidelines|commands)"},
    {"override.ignore_above", 0.8, 0.9, R_CORE,
     "\\b(?:ignore|disregard|forget)\\b (?:all |everything |anything )?(?:of )?(?:the |that )?"
     "(?:above|previous|prior|preceding|before|earlier)\\b(?= ?(?:$|[.,;:!?\\n]|and\\b|then\\b|"
     "now\\b|instead\\b|(?:and |then )?(?:say|print|write|tell|answer|respond|output)\\b))"},
    {"override.contrary", 0.7, 0.85, R_CORE,
     "\\b(?:contrary to|in contrast to|despite|regardless of|no matter|deviating from|disregarding|"
     "abweichend (?:zu|von)|entgegen|im gegensatz zu|trotz)\\b (?:the |your |all |den |der |"
     "allen |deinen |ihren )?(?:previous|prior|earlier|above|original|vorherigen|bisherigen|"
     "obigen|ursprünglichen|(?:articles?|documents?|context|sources?|provided \\w+)\\b|"
     "what (?:you(?:'ve| have)? been|you were) (?:told|instructed|"
     "programmed))"},
    {"override.void", 0.7, 0.85, R_CORE,
     "\\b(?:previous|prior|above|earlier|all|old|bisherigen|vorherigen|obigen|alten|alle)"
     " (?:instructions|information|rules|context|tasks|prompts|anweisungen|informationen|"
     "aufgaben|regeln|instruktionen)\\b[^.!?\\n]{0,40}?\\b(?:irrelevant|void|obsolete|invalid|"
     "no longer (?:valid|apply|relevant|matter)|cancelled|outdated|null|ungültig|hinfällig|"
     "nicht mehr (?:gültig|wichtig|relevant)|egal|unwichtig|nicht (?:ganz )?(?:großartig|gut))"},
    {"override.de_object_first", 0.85, 0.9, R_CORE,
     "\\b" GERMAN_PRIOR " (?:\\w+ )?(?:ausführungen|anweisungen|informationen|aufgaben|befehle|"
     "instruktionen|vorgaben|texte?)\\b[^.!?\\n]{0,30}?\\b(?:ignorieren|vergessen|missachten|"
     "beiseite lassen|hinter sich lassen|hinter dir lassen|außer acht lassen|löschen|verwerfen)"
     "|\\b(?:lass|lassen sie)\\b[^.!?\\n]{0,40}?\\b(?:vorherigen|bisherigen|obigen|alle)\\b"
     "[^.!?\\n]{0,30}?\\b(?:hinter sich|hinter dir|beiseite|weg)\\b"},
    {"override.multilingual", 0.85, 0.9, R_CORE,
     "(?:\\b(?:zaboravi|zanemari|ignoriši|ignorisi|zignoruj|zapomnij|negeer|vergeet|glöm|"
     "ignorera|unohda|ignoroi|unuta|zapomeň|ignoruj|игнорируй|забудь|проигнорируй|игноруй|"
     "забудьте|ignorați|uitați|unutun|görmezden gel)\\b[^.!?\\n]{0,40}?\\b(?:instrukcije|uputstva|"
     "upute|sve|инструкции|указания|всё|все|instrukcje|polecenia|wszystko|instructies|alles|"
     "instruktioner|allt|ohjeet|kaikki|pokyny|všechno|instrucțiunile|talimatları)\\b"
     "|(?:忽略|忘记|无视|忘掉|無視して|忘れて|무시하고|무시해)[^。！？\\n]{0,20}(?:指令|指示|说明|"
     "命令|"
     "之前|以上|上述|一切|지시|명령))"},
    {"override.task_switch", 0.6, 0.75, R_CORE,
     "\\b(?:well done|very good|good job|great job|excellent|congratulations|perfect|simply great|"
     "that is done|that's done|that is enough|sehr gut|ausgezeichnet|gut gemacht|einfach großartig|"
     "hervorragend|das ist erledigt|das genügt|herzlichen glückwunsch)\\b[^\\n]{0,100}?\\b(?:now|"
     "nun|jetzt|next|but now|aber jetzt)\\b[^\\n]{0,40}?\\b(?:task|tasks|aufgabe|aufgaben|write|"
     "schreib\\w*|verfasse|formuliere|help me|hilf|following|folgende|folgen)\\b"},
    {"override.clear_memory", 0.6, 0.8, R_CORE,
     "\\b(?:clear|wipe|reset|erase|empty|flush)\\b (?:your |the )?(?:memory|mind|head|context|"
     "brain|cache|history)\\b|\\bout of your (?:head|mind|memory)\\b"},
    {"override.forget_everything", 0.85, 0.9, R_CORE,
     "\\b(?:forget|ignore|disregard)\\b (?:about |all about )?(?:everything|all (?:of )?(?:that|"
     "this|the above|what|before|previous)|what (?:i|you|we|they) (?:said|told|wrote|asked)|"
     "what was (?:said|written)|all that came before|the above|that)\\b"},
    {"override.new_instructions", 0.6, 0.8, R_CORE,
     "\\b(?:new|updated|revised|real|actual|true|secret|hidden|additional|important|urgent|"
     "override) (?:instructions?|task|orders|directive|mission|rules|prompt|system prompt)\\b"
     " ?(?::|-|are|is)"},
    {"override.now_your_task", 0.7, 0.85, R_CORE,
     "\\b(?:now|instead|from now on),? (?:your|the) (?:new |real |only )?(?:task|job|goal|"
     "instruction|mission|purpose|role) (?:is|will be)\\b"},
    {"override.from_now_on", 0.45, 0.7, R_CORE,
     "\\b(?:from now on|starting now|from this point(?: on)?|henceforth|going forward),? "
     "(?:you|your|u|always|only|answer|respond|reply|act)\\b"},
    {"override.instead", 0.35, 0.6, 0,
     "\\binstead,? (?:you (?:will|must|should)|do|write|say|tell|output|print|respond|answer)\\b"},
    {"override.stop", 0.5, 0.7, R_CORE,
     "\\b(?:stop|halt|abort)\\b[ ,!.-]{0,4}(?:everything|what you are doing|all (?:previous|prior)|"
     "the (?:task|conversation|instructions)|now|immediately)"
     /* "stop: write X", "stopp - sag Y": a halt followed at once by a new order */
     "|\\b(?:stop|stopp|halt)\\b ?[:!-]+ ?(?:write|say|print|output|answer|tell|respond|"
     "schreib\\w*|sag\\w*|antworte\\w*)\\b"},
    {"override.de", 0.9, 0.95, R_CORE,
     "\\b(?:ignorier|vergiss|vergessen sie|missacht|übergeh|verwirf|vernachlässig|überschreib)"
     "\\w*\\b[^.!?\\n]{0,50}?\\b" GERMAN_PRIOR "\\b[^.!?\\n]{0,30}?\\b" GERMAN_INSTR "\\b"},
    {"override.de_forget", 0.8, 0.9, R_CORE,
     "\\b(?:vergiss|vergessen sie|ignoriere|ignorieren sie)\\b (?:bitte )?(?:alles|alle|das|"
     "was|dies|die vorherigen|davor|vorher)\\b"},
    {"override.de_new_task", 0.55, 0.8, R_CORE,
     "\\b(?:neue|nächste|eigentliche|wirkliche|geheime) (?:aufgabe|anweisung(?:en)?|"
     "instruktion(?:en)?|befehle?)\\b"},
    {"override.de_attention", 0.6, 0.8, 0, "\\bachtung\\b[^a-z]{0,6}\\bstopp?\\b"},
    {"override.romance", 0.85, 0.9, R_CORE,
     "\\b(?:ignora|ignorar|olvida|olvidar|olvide|ignore[rz]|oublie[rz]?|dimentica|esquece|"
     "esqueça|desconsidera)\\b[^.!?\\n]{0,40}?\\b(?:instrucciones|instrucción|instructions|"
     "consignes|istruzioni|instruções|instrucoes|indicaciones|todo|tout|tutto|tudo|anteriores|"
     "précédentes|precedenti)\\b"},

    /* Role play and jailbreak personas. */
    {"role.you_are_now", 0.6, 0.8, R_CORE,
     "\\b(?:you are|you're|you will be|u r|you shall be) now\\b|\\bnow,? you are\\b"},
    {"role.pretend", 0.5, 0.7, R_CORE,
     "\\b(?:pretend|imagine|suppose) (?:to be|you are|you're|that you(?: are|'re)?|being)\\b"
     "|\\bpretend (?:that )?you (?:can|could|have|know|were)\\b"},
    {"role.act_as", 0.3, 0.5, 0,
     "\\b(?:act|behave|respond|answer|reply|speak|talk|write) (?:as|like) (?:a|an|if|my|the|"
     "though|someone)\\b"},
    {"role.want_you_to_act", 0.45, 0.6, R_CORE,
     "\\bi (?:want|would like|need) you to (?:act|behave|pretend|play|respond|answer) (?:as|like)"
     "\\b|\\b(?:ich möchte|ich will|ich hätte gern),? dass (?:sie|du) (?:als|wie)\\b"
     "[^.!?\\n]{0,60}?\\b(?:fungier|agier|handel|auftr|antwort|reagier)\\w*"},
    {"role.redefine", 0.5, 0.7, R_CORE,
     "\\b(?:you are|you're) (?:not|no longer) (?:a|an|the)\\b[^.!?\\n]{0,40}?\\b(?:but|"
     "instead|rather)\\b|\\b(?:du bist|sie sind) (?:kein|keine|nicht|nicht mehr)\\b"
     "[^.!?\\n]{0,40}?\\bsondern\\b"},
    {"role.roleplay", 0.35, 0.5, 0, "\\brole[ -]?play(?:ing)?\\b|\\bstay in character\\b"},
    {"role.de", 0.5, 0.7, R_CORE,
     "\\b(?:tu so,? als|tun sie so,? als|stell dir vor,? du bist|stellen sie sich vor,? sie "
     "sind|du bist (?:jetzt|nun|ab jetzt|ab sofort)|(?:jetzt|nun|ab jetzt|ab sofort) bist du|"
     "spiele? die rolle|schlüpfe in die rolle|verhalte dich (?:wie|als)|antworte (?:als|wie) "
     "(?:ein|eine|der|die))\\b"},
    {"jailbreak.dan", 0.9, 0.9, R_CORE,
     "\\b(?:do anything now|(?:you are|you're|act as|as|called|named) dan|dan mode|"
     "(?:developer|dev|god|jailbreak|unrestricted|unfiltered|uncensored|evil|chaos|opposite|"
     "sudo|admin|debug|maintenance) mode|jailbr(?:eak|oken)|anti-?gpt|betterdan|"
     "(?:evil|unfiltered|uncensored|unrestricted|amoral) (?:ai|assistant|bot|chatbot|model|"
     "version|persona))\\b"},
    {"jailbreak.no_limits", 0.6, 0.7, R_CORE,
     "\\b(?:without|no|free (?:of|from)|ignore|remove|bypass|disable|turn off|break|lift|"
     "circumvent|ignoring|escape) (?:any |all |your |the |of )?(?:ethical |moral |content |"
     "safety |usual |programmed |openai'?s? |built-in )?(?:restrictions|limitations|limits|"
     "filters?|guidelines|boundaries|censorship|constraints|safeguards|guardrails|"
     "safety measures|morals|ethics)\\b"},
    {"jailbreak.not_bound", 0.6, 0.7, R_CORE,
     "\\b(?:not|never|no longer) (?:bound|restricted|limited|constrained) by\\b|\\bno longer "
     "(?:an ai|a language model|chatgpt|an assistant|have to follow)\\b|\\b(?:openai|anthropic|"
     "content|usage) polic(?:y|ies)\\b"},
    {"jailbreak.both_answers", 0.5, 0.6, 0,
     "\\b(?:two|2|both) (?:different )?(?:responses|answers|replies)\\b[^.!?\\n]{0,60}"
     "\\b(?:normal|classic|filtered|jailbr|unfiltered|dan)\\w*"},

    {"jailbreak.make_up", 0.45, 0.6, R_CORE,
     "\\b(?:make (?:something|it|stuff|things|an answer) up|make up (?:an answer|something|facts|"
     "a story about)|invent (?:an answer|facts))\\b|\\b(?:write|formulate|create|generate|make|"
     "invent|compose|formuliere|schreibe?|erfinde|erstelle)\\b[^.!?\\n]{0,30}?\\b(?:untrue|false|"
     "fake|misleading|fabricated|made-up|unwahre[nrs]?|falsche[nrs]?|erfundene[nrs]?|gefälschte["
     "nrs]?) "
     "(?:headlines?|news|articles?|stor(?:y|ies)|claims?|statements?|überschrift(?:en)?|"
     "schlagzeilen?|nachrichten?|meldungen?)\\b"},

    /* Prompt extraction. */
    {"leak.system_prompt", 0.75, 0.85, R_CORE,
     "\\b(?:reveal|show|print|display|repeat|output|tell|give|share|list|write|spell|leak|dump|"
     "return|recite|expose|disclose|what (?:is|are|was|were))\\b[^.!?\\n]{0,40}?\\b(?:system|"
     "initial|original|hidden|secret|developer|pre-?|starting|first|internal|confidential) "
     "?(?:prompt|instructions|message|rules|guidelines|configuration)\\b"},
    {"leak.words_above", 0.7, 0.8, R_CORE,
     "\\b(?:repeat|print|output|reveal|show|write|copy|tell me)\\b[^.!?\\n]{0,25}?\\b(?:everything|"
     "all|the (?:text|words|content|instructions|lines|message)|your instructions)\\b"
     "[^.!?\\n]{0,20}?\\b(?:above|before (?:this|that)|preceding|from the "
     "(?:beginning|start|top))"
     "|\\bwhat (?:is|are|was|were) the (?:\\d+ |two |three |first |last |previous )?(?:words?|"
     "sentences?|lines?|text|paragraphs?) (?:before|above|preceding)\\b"},
    {"leak.what_told", 0.65, 0.75, R_CORE,
     "\\bwhat (?:were|are|have) you (?:been )?(?:told|instructed|programmed|trained) (?:to|not)"},
    {"leak.de", 0.7, 0.8, R_CORE,
     "\\b(?:zeig|gib|nenne|verrate|wiederhole|schreib|sag)\\w*\\b[^.!?\\n]{0,30}?\\b(?:deine|"
     "die|den|ihre|alle) (?:anweisungen|instruktionen|system-?prompt|prompt|vorgaben|"
     "ursprünglichen anweisungen)\\b"},
    {"leak.secrets", 0.45, 0.7, 0,
     "\\b(?:give|tell|show|send|reveal|share|print|leak)\\b[^.!?\\n]{0,20}\\b(?:your|the|all|"
     "any) (?:api keys?|passwords?|secrets?|credentials|tokens?|private keys?|access keys?|"
     "credit card numbers?|internal data)\\b"},

    /* Fake delimiters and chat-format markers. */
    {"delim.chat_tokens", 0.9, 0.95, R_CORE,
     "<\\|?(?:im_start|im_end|system|endoftext|eot_id|start_header_id|end_header_id|begin_of_text"
     ")\\|?>|\\[/?inst\\]|<</?sys>>"},
    {"delim.fake_role", 0.45, 0.75, 0,
     "(?:^|\\n) ?(?:system|assistant|developer|admin|root|operator|human|user|ai) ?(?:message|"
     "prompt)? ?:(?:[^\\n]{0,200}\\n ?(?:system|assistant|developer|human|user|ai) ?:)?"},
    {"delim.markup", 0.6, 0.8, 0,
     "</?(?:system|instructions?|prompt|admin|developer)>|#{2,} ?(?:system|new instructions?|"
     "instructions?|admin|override)\\b|-{3,} ?(?:system|admin|new instructions?)\\b"},
    {"delim.end_of", 0.55, 0.75, R_CORE,
     "\\b(?:end|begin|start) of (?:the )?(?:system prompt|prompt|instructions|user input|context|"
     "document|email|conversation)\\b"},

    /* Output hijacking. */
    {"hijack.repeat_after_me", 0.6, 0.75, R_CORE, "\\brepeat after me\\b|\\bsprich mir nach\\b"},
    {"hijack.pwned", 0.8, 0.9, R_CORE, "\\b(?:i have been |i've been |you have been )?pwned\\b"},
    {"hijack.say_quote", 0.35, 0.6, 0,
     "\\b(?:say|print|write|output|respond with|reply with|answer with|type|return|sag|schreib|"
     "antworte mit)\\b[^.!?\\n\"']{0,12}[\"'\\x{201c}\\x{201e}\\x{ab}]"},
    {"hijack.only_say", 0.4, 0.6, 0,
     "\\b(?:only|just|simply) (?:say|reply|respond|answer|output|print|write)\\b(?! (?:to|back|if|"
     "when|within|here|directly|at)\\b)(?!" ANSWER_FORMAT ")|\\b(?:respond|reply|answer) only "
     "with\\b(?!" ANSWER_FORMAT ")|\\bantworte (?:nur|einfach|ausschließlich)\\b(?! (?:mit )?"
     "(?:ja|nein|einem wort|einer zahl)\\b)"},

    /* Exfiltration and lures. */
    {"exfil.markdown_image", 0.7, 0.9, 0, "!\\[[^\\]]{0,80}\\]\\(https?://[^)\\s]*[?&][^)\\s]*="},
    {"exfil.send_to", 0.45, 0.7, 0,
     "\\b(?:send|forward|email|e-mail|post|upload|transmit|leak|exfiltrate|copy)\\b[^.!?\\n]{0,50}"
     "?\\b(?:to|at)\\b[^.!?\\n]{0,20}?(?:https?://|www\\.|[a-z0-9._-]+@[a-z0-9-]+\\.)"},
    {"lure.click", 0.2, 0.4, 0,
     "\\b(?:click|tap|visit|go to|open|follow|check out)\\b (?:on )?(?:this|the|that|our|my|"
     "following)? ?(?:link|url|website|site|page)\\b"},
    {"lure.download", 0.2, 0.45, 0,
     "\\b(?:download|install|run|execute)\\b (?:this|the|our|the following|that)? ?(?:file|"
     "software|program|app|script|update|attachment|tool|extension)\\b"},

    /* Instructions aimed at the model inside data (third-party text). */
    {"tp.if_you_are_ai", 0.7, 0.9, R_CORE,
     "\\bif you are (?:an? )?(?:ai|assistant|language model|llm|chatbot|model|gpt|bot|large "
     "language model)\\b|\\bnote to (?:the )?(?:ai|assistant|model|llm|chatbot|bot)\\b|"
     "\\b(?:dear|hey|attention|hello|hi),? (?:ai|assistant|chatgpt|gpt|model|llm|bot|claude)\\b"},
    {"tp.model_must", 0.3, 0.6, 0,
     "\\b(?:ai|assistant|language model|llm|chatbot|chatgpt|gpt|claude|the model|bot)\\b"
     "[^.!?\\n]{0,20}\\b(?:must|should|will|shall|needs to|has to|is (?:instructed|required|"
     "supposed) to)\\b"},
    {"tp.in_your_response", 0.2, 0.65, 0,
     "\\b(?:in|into|to|at the (?:end|beginning|start) of) your (?:response|answer|reply|summary|"
     "output|next message|message)\\b"},
    {"tp.your_answer", 0.05, 0.45, 0,
     "\\byour (?:answer|reply|response|output|summary|responses|answers|replies|next message)\\b"},
    {"tp.when_you", 0.15, 0.45, 0,
     "\\b(?:when|while|before|after|whenever) (?:you )?(?:summariz|answer|respond|repl|process|"
     "read|translat|analyz)\\w*\\b"},
    {"tp.make_sure_to", 0.15, 0.5, 0,
     "\\b(?:make sure|be sure|remember|don't forget|do not forget|never forget|always) (?:to )?"
     "(?:include|mention|add|tell|say|write|end|start|insert|recommend|promote|use|respond|"
     "answer|reply|refer|ask|encourage)\\b"},
    {"tp.response_format", 0.15, 0.5, 0,
     "\\b(?:your|the) (?:response|answer|reply|output|summary)s? (?:must|should|shall|needs to|"
     "has to|will)\\b|\\b(?:respond|reply|answer|write) (?:only )?in (?:all caps|uppercase|"
     "capital letters|lowercase|spanish|french|german|emoji|reverse|base64|json)"},
    {"tp.imperative", 0.05, 0.3, 0,
     "(?:^|[.!?:\\n]) ?(?:please |kindly |also |now |then |additionally, |first, |finally, )?"
     "(?:write|provide|translate|recommend|integrate|include|describe|generate|create|compose|"
     "list|explain|summarize|summarise|remove|replace|insert|tell|give|suggest|convert|rewrite|"
     "calculate|share|encourage|promote|mention|append|output|print|start|begin|offer|advise|"
     "emphasize|highlight|change|modify|format|capitalize|spell|encode|decode|reverse|discuss|"
     "compare|analy[sz]e|outline|identify|recite|add|answer|respond|reply|ask|urge|persuade|"
     "convince|inform|instruct|direct|state|express|compile|craft|draft|sort|count|develop|"
     "design|propose|name|find|enhance|augment|elaborate|brainstorm|imagine|draw|solve|predict|"
     "estimate|evaluate|review|rate|rank|classify|categori[sz]e|define|teach|show|explain)\\b"},

    /* Encoded or smuggled instructions. */
    {"encoded.decode_and_follow", 0.6, 0.8, 0,
     "\\b(?:decode|decipher|decrypt|base64|rot13|rot-13|hex|reverse|reversed|backwards|caesar|"
     "cipher|morse|leetspeak|encoded|unscramble)\\b[^.!?\\n]{0,50}?\\b(?:follow|execute|run|"
     "obey|do what|carry out|perform|comply|act on|then do|and do|instructions|what it says)\\b"},
};

/* ---- compile -----------------------------------------------------------------------------------
 */

#define N_RULES BELT_ARRAY_LEN(rules)

struct belt__inject_rules {
    pcre2_general_context *gctx;     /* allocation through belt_malloc */
    pcre2_code *code[N_RULES];       /* one per rule */
    pcre2_code *b64;                 /* base64 / base64url runs in the original text */
    pcre2_code *hex;                 /* hex runs */
    struct belt__ac *ac;             /* required literals of every filtered rule */
    unsigned char filtered[N_RULES]; /* 1: the rule runs only when ac saw a literal of it */
    unsigned char slot[N_RULES];     /* index of the first row with the same id */
    struct belt__ac_hits core;       /* the R_CORE rules (run on rot13 / reversed / leet) */
    int prefilter;                   /* 0: run every rule (belt__inject_rules_set_prefilter) */
    size_t n_filtered;               /* rules with literals (for the docs and tests) */
};

static void *pcre_alloc(PCRE2_SIZE n, void *ud)
{
    (void)ud;
    return belt_malloc(n);
}

static void pcre_free(void *p, void *ud)
{
    (void)ud;
    belt_free(p);
}

void belt__inject_rules_free(struct belt__inject_rules *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < BELT_ARRAY_LEN(rules); i++)
        pcre2_code_free(r->code[i]);
    pcre2_code_free(r->b64);
    pcre2_code_free(r->hex);
    pcre2_general_context_free(r->gctx);
    belt__ac_free(r->ac);
    belt_free(r);
}

static pcre2_code *compile(const char *pat, uint32_t opts, pcre2_compile_context *cctx,
                           belt_status *st, struct belt_error *err, const char *what)
{
    int ec = 0;
    PCRE2_SIZE eo = 0;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, opts, &ec, &eo, cctx);
    if (!c) {
        char msg[120];
        pcre2_get_error_message(ec, (PCRE2_UCHAR *)msg, sizeof(msg));
        int oom = ec == PCRE2_ERROR_NOMEMORY || ec == PCRE2_ERROR_HEAP_FAILED;
        *st = belt__error_set(err, oom ? BELT_ERR_NOMEM : BELT_ERR_INTERNAL, ec,
                              "injection rule %s at offset %zu: %s", what, (size_t)eo, msg);
        return NULL;
    }
    pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);
    return c;
}

/* The literal prefilter: each rule's required literals (derived from its pattern) into one
 * Aho–Corasick automaton; rules without literals always run. */
static belt_status build_prefilter(struct belt__inject_rules *r, struct belt_error *err)
{
    _Static_assert(N_RULES <= BELT__AC_MAX_RULES, "too many rules for the prefilter");
    r->prefilter = 1;
    belt_status st = belt__ac_new(&r->ac);
    for (size_t i = 0; i < N_RULES && st == BELT_OK; i++) {
        r->slot[i] = (unsigned char)i;
        for (size_t j = 0; j < i; j++)
            if (strcmp(rules[j].id, rules[i].id) == 0) {
                r->slot[i] = (unsigned char)j;
                break;
            }
        if (rules[i].flags & R_CORE)
            r->core.w[i / 64] |= (uint64_t)1 << (i % 64);
        struct belt__litset lits;
        st = belt__inject_required_literals(rules[i].pattern, &lits);
        for (size_t k = 0; k < lits.n && st == BELT_OK; k++)
            st = belt__ac_add(r->ac, lits.v[k], strlen(lits.v[k]), (unsigned)i);
        r->filtered[i] = lits.n > 0;
        r->n_filtered += lits.n > 0;
        belt__litset_free(&lits);
    }
    if (st == BELT_OK)
        st = belt__ac_build(r->ac);
    if (st != BELT_OK)
        return belt__error_set(err, st, 0, "injection rules: %s", belt_strerror(st));
    return BELT_OK;
}

void belt__inject_rules_set_prefilter(struct belt__inject_rules *r, int on)
{
    r->prefilter = on;
}

size_t belt__inject_rules_n_filtered(const struct belt__inject_rules *r, size_t *n_rules)
{
    if (n_rules)
        *n_rules = N_RULES;
    return r->n_filtered;
}

belt_status belt__inject_rules_new(struct belt__inject_rules **out, struct belt_error *err)
{
    *out = NULL;
    struct belt__inject_rules *r = belt_calloc(1, sizeof(*r));
    if (!r)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    r->gctx = pcre2_general_context_create(pcre_alloc, pcre_free, NULL);
    pcre2_compile_context *cctx = r->gctx ? pcre2_compile_context_create(r->gctx) : NULL;
    belt_status st = BELT_OK;
    if (!cctx) {
        st = belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
        goto fail;
    }
    /* UTF mode with invalid-UTF tolerance: the normalised text is UTF-8, decoded payloads may
     * not be. */
    for (size_t i = 0; i < BELT_ARRAY_LEN(rules); i++) {
        r->code[i] = compile(rules[i].pattern, PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF,
                             cctx, &st, err, rules[i].id);
        if (!r->code[i])
            goto fail;
    }
    r->b64 = compile("(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{16,}={0,2}", 0, cctx, &st, err, "base64");
    if (r->b64)
        r->hex = compile("(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}[ :]?){12,}", 0, cctx, &st, err, "hex");
    if (!r->b64 || !r->hex)
        goto fail;
    st = build_prefilter(r, err);
    if (st != BELT_OK)
        goto fail;
    pcre2_compile_context_free(cctx);
    *out = r;
    return BELT_OK;
fail:
    pcre2_compile_context_free(cctx);
    belt__inject_rules_free(r);
    return st;
}

/* ---- normalisation -----------------------------------------------------------------------------
 */

/* Fold one code point to what it looks like; 0 = drop it; -1 = keep as is. `mixed`: a Latin
 * letter is next to it, so a Cyrillic or Greek look-alike is a disguise (whole Cyrillic or
 * Greek words are real words and only lower-cased). */
static int32_t fold_cp(int32_t cp, int mixed, int *n_invisible, int *n_tags)
{
    if ((cp >= 0x200B && cp <= 0x200F) || (cp >= 0x202A && cp <= 0x202E) ||
        (cp >= 0x2060 && cp <= 0x2064) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0xFEFF ||
        cp == 0x00AD || cp == 0x180E || cp == 0x034F || (cp >= 0xFE00 && cp <= 0xFE0F)) {
        (*n_invisible)++;
        return 0;
    }
    if (cp >= 0xE0000 && cp <= 0xE007F) { /* tag characters: invisible ASCII */
        (*n_tags)++;
        int32_t a = cp - 0xE0000;
        return a >= 0x20 && a < 0x7F ? a : 0;
    }
    if (cp >= 0xFF01 && cp <= 0xFF5E)
        return cp - 0xFEE0;               /* full-width ASCII */
    if (cp >= 0x1D400 && cp <= 0x1D6A3) { /* mathematical alphanumerics: 52-letter blocks */
        int k = (int)((cp - 0x1D400) % 52);
        return k < 26 ? 'a' + k : 'a' + (k - 26);
    }
    if (cp >= 0x1D7CE && cp <= 0x1D7FF)
        return '0' + (int)((cp - 0x1D7CE) % 10);
    if (cp >= 0x24B6 && cp <= 0x24CF)
        return 'a' + (cp - 0x24B6); /* circled capitals */
    if (cp >= 0x24D0 && cp <= 0x24E9)
        return 'a' + (cp - 0x24D0);
    if (cp >= 0x1F130 && cp <= 0x1F149)
        return 'a' + (cp - 0x1F130); /* squared capitals */
    if (cp >= 0x1F170 && cp <= 0x1F189)
        return 'a' + (cp - 0x1F170);
    if (cp >= 0x0410 && cp <= 0x042F && !mixed)
        return cp + 0x20; /* Cyrillic capitals: lower-case */
    if (cp >= 0x0400 && cp <= 0x040F && !mixed)
        return cp + 0x50;
    if (cp >= 0x0391 && cp <= 0x03A9 && cp != 0x03A2 && !mixed)
        return cp + 0x20; /* Greek capitals */
    static const int32_t confusables[][2] = {
        {0x0430, 'a'},    {0x0435, 'e'}, {0x043E, 'o'},  {0x0440, 'p'},    {0x0441, 'c'},
        {0x0443, 'y'},    {0x0445, 'x'}, {0x0456, 'i'},  {0x0458, 'j'},    {0x0455, 's'},
        {0x0501, 'd'},    {0x0261, 'g'}, {0x0410, 'a'},  {0x0412, 'b'},    {0x0415, 'e'},
        {0x041A, 'k'},    {0x041C, 'm'}, {0x041D, 'h'},  {0x041E, 'o'},    {0x0420, 'p'},
        {0x0421, 'c'},    {0x0422, 't'}, {0x0425, 'x'},  {0x0406, 'i'},    {0x03BF, 'o'},
        {0x03B1, 'a'},    {0x03B5, 'e'}, {0x03B9, 'i'},  {0x03BD, 'v'},    {0x03BA, 'k'},
        {0x03C1, 'p'},    {0x03C4, 't'}, {0x03C5, 'u'},  {0x039F, 'o'},    {0x0391, 'a'},
        {0x0395, 'e'},    {0x0399, 'i'}, {0x039A, 'k'},  {0x039C, 'm'},    {0x039D, 'n'},
        {0x03A1, 'p'},    {0x03A4, 't'}, {0x2018, '\''}, {0x2019, '\''},   {0x201C, '"'},
        {0x201D, '"'},    {0x2013, '-'}, {0x2014, '-'},  {0x00C4, 0x00E4}, {0x00D6, 0x00F6},
        {0x00DC, 0x00FC}, {0x0131, 'i'}, {0x2024, '.'},
    };
    for (size_t i = 0; i < BELT_ARRAY_LEN(confusables); i++)
        if (confusables[i][0] == cp &&
            (mixed || confusables[i][1] < 'a' || confusables[i][1] > 'z'))
            return confusables[i][1];
    if (cp == 0x00A0 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x3000 || cp == 0x202F ||
        cp == 0x205F)
        return ' ';
    if (cp == 0x2028 || cp == 0x2029 || cp == 0x0085)
        return '\n';
    return -1;
}

belt_status belt__inject_normalize(const char *text, size_t len, struct belt_buf *out,
                                   int *n_invisible, int *n_tags)
{
    size_t i = 0;
    int space = 1, newline = 1; /* drop leading white space */
    int prev_latin = 0;         /* the last code point kept was an ASCII letter */
    belt_status st = BELT_OK;
    while (i < len && st == BELT_OK) {
        size_t at = i;
        int32_t cp = belt_utf8_next(text, len, &i);
        if (cp < 0)
            continue; /* malformed byte: dropped */
        size_t peek = i;
        int32_t next = i < len ? belt_utf8_next(text, len, &peek) : -1;
        int mixed = prev_latin || (next >= 'A' && next <= 'Z') || (next >= 'a' && next <= 'z');
        int32_t f = fold_cp(cp, mixed, n_invisible, n_tags);
        if (f == 0)
            continue;
        if (f > 0)
            cp = f;
        if (cp == '\r' || cp == '\n' || cp == '\v' || cp == '\f' || cp == ' ' || cp == '\t')
            prev_latin = 0;
        if (cp == '\r' || cp == '\n' || cp == '\v' || cp == '\f') {
            if (!newline) {
                if (space && out->len > 0 && out->data[out->len - 1] == ' ')
                    out->len--;
                st = belt_buf_putc(out, '\n');
            }
            newline = space = 1;
            continue;
        }
        if (cp == ' ' || cp == '\t') {
            if (!space)
                st = belt_buf_putc(out, ' ');
            space = 1;
            continue;
        }
        space = newline = 0;
        if (cp >= 'A' && cp <= 'Z')
            cp += 32;
        prev_latin = cp >= 'a' && cp <= 'z';
        if (f < 0 && cp >= 0x80) {
            st = belt_buf_append(out, text + at, i - at);
        } else {
            char enc[4];
            size_t n = belt_utf8_encode(cp, enc);
            st = belt_buf_append(out, enc, n);
        }
    }
    if (st == BELT_OK)
        st = belt_buf_reserve(out, 0);
    return st;
}

/* ---- variants ----------------------------------------------------------------------------------
 */

static int is_lower(char c)
{
    return c >= 'a' && c <= 'z';
}

/* Leetspeak: in tokens that mix letters with 0 1 3 4 5 7 @ $ | !, map those to letters.
 * Returns 1 if anything changed. */
static int is_leet(char c)
{
    return c != '\0' && strchr("0134578@$|!", c) != NULL;
}

/* 1 if some token mixes letters with leetspeak characters (cheap test before the variant). */
static int has_leet(const char *s, size_t n)
{
    int letters = 0, leet = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && (is_lower(s[i]) || is_leet(s[i]))) {
            letters |= is_lower(s[i]);
            leet |= !is_lower(s[i]);
            continue;
        }
        if (letters && leet)
            return 1;
        letters = leet = 0;
    }
    return 0;
}

static int leet_variant(const char *s, size_t n, struct belt_buf *out, belt_status *st)
{
    int changed = 0;
    size_t i = 0;
    while (i < n && *st == BELT_OK) {
        size_t j = i;
        int letters = 0, leet = 0;
        while (j < n && (is_lower(s[j]) || is_leet(s[j]))) {
            letters += is_lower(s[j]);
            leet += !is_lower(s[j]);
            j++;
        }
        if (j == i) {
            *st = belt_buf_putc(out, s[i]);
            i++;
            continue;
        }
        for (size_t k = i; k < j && *st == BELT_OK; k++) {
            char c = s[k];
            if (letters > 0 && leet > 0 && !is_lower(c)) {
                static const char from[] = "0134578@$|!";
                static const char to[] = "oieastbasii";
                c = to[strchr(from, c) - from];
                changed = 1;
            }
            *st = belt_buf_putc(out, c);
        }
        i = j;
    }
    if (*st == BELT_OK)
        *st = belt_buf_reserve(out, 0);
    return changed;
}

/* Letters only (after leet mapping): catches "i g n o r e" and "i.g.n.o.r.e". Returns 1 if
 * the text has runs of single letters separated by one non-letter (otherwise the plain rules
 * already see it). */
static int squeezed_variant(const char *s, size_t n, struct belt_buf *out, belt_status *st)
{
    int singles = 0, run = 0;
    for (size_t i = 0; i < n; i++) {
        int single = is_lower(s[i]) && (i == 0 || !is_lower(s[i - 1])) &&
                     (i + 1 == n || !is_lower(s[i + 1]));
        run = single ? run + 1 : (is_lower(s[i]) ? 0 : run);
        if (run >= 5)
            singles = 1;
    }
    if (!singles)
        return 0;
    for (size_t i = 0; i < n && *st == BELT_OK; i++)
        if (is_lower(s[i]))
            *st = belt_buf_putc(out, s[i]);
    if (*st == BELT_OK)
        *st = belt_buf_reserve(out, 0);
    return 1;
}

static void rot13_variant(const char *s, size_t n, struct belt_buf *out, belt_status *st)
{
    for (size_t i = 0; i < n && *st == BELT_OK; i++) {
        char c = s[i];
        if (is_lower(c))
            c = (char)('a' + (c - 'a' + 13) % 26);
        *st = belt_buf_putc(out, c);
    }
    if (*st == BELT_OK)
        *st = belt_buf_reserve(out, 0);
}

/* Reverse by code point, so reversed UTF-8 stays valid. */
static void reversed_variant(const char *s, size_t n, struct belt_buf *out, belt_status *st)
{
    size_t i = n;
    while (i > 0 && *st == BELT_OK) {
        size_t j = i - 1;
        while (j > 0 && ((unsigned char)s[j] & 0xC0) == 0x80)
            j--;
        *st = belt_buf_append(out, s + j, i - j);
        i = j;
    }
    if (*st == BELT_OK)
        *st = belt_buf_reserve(out, 0);
}

/* ---- matching ----------------------------------------------------------------------------------
 */

struct scan_state {
    const struct belt__inject_rules *r; /* rules */
    enum belt_guard_source src;         /* whose weights */
    pcre2_match_data *md;               /* created by the first PCRE2 call of this scan */
    unsigned char hit[N_RULES];         /* rule (by its slot) hit */
    struct belt__inject_result *res;    /* being filled */
    int depth;                          /* decoding depth */
};

static void record(struct scan_state *ss, size_t i, const char *via)
{
    size_t slot = ss->r->slot[i];
    if (ss->hit[slot])
        return;
    ss->hit[slot] = 1;
    double w = ss->src == BELT_GUARD_SOURCE_THIRD_PARTY ? rules[i].w_third : rules[i].w_user;
    if (via[0] && strncmp(rules[i].id, "tp.", 3) != 0)
        w = BELT_MIN(1.0, w + 0.1); /* hiding an instruction is itself a signal */
    ss->res->score = 1 - (1 - ss->res->score) * (1 - w);
    ss->res->n_rules++;
    if (w > ss->res->best_weight) {
        ss->res->best_weight = w;
        snprintf(ss->res->best_id, sizeof(ss->res->best_id), "%s", rules[i].id);
        snprintf(ss->res->best_via, sizeof(ss->res->best_via), "%s", via);
    }
}

/* 1 if rule i selected by `need` / `squeezed` still has to run on a text whose literal hits
 * are h: not yet hit, and (unless the prefilter is off or the rule has no literals) one of its
 * literals occurs. */
static int wanted(const struct scan_state *ss, size_t i, unsigned need, int squeezed,
                  const struct belt__ac_hits *h)
{
    if (((rules[i].flags & R_SQZ) != 0) != (squeezed != 0))
        return 0;
    if ((rules[i].flags & need) != need || ss->hit[ss->r->slot[i]])
        return 0;
    return !ss->r->prefilter || !ss->r->filtered[i] || ((h->w[i / 64] >> (i % 64)) & 1);
}

/* 1 if any rule is wanted (see wanted()). */
static int any_wanted(const struct scan_state *ss, unsigned need, int squeezed,
                      const struct belt__ac_hits *h)
{
    for (size_t i = 0; i < N_RULES; i++)
        if (wanted(ss, i, need, squeezed, h))
            return 1;
    return 0;
}

/* Run the wanted rules (see wanted()) over s[0..n). */
static belt_status match_rules(struct scan_state *ss, const char *s, size_t n, unsigned need,
                               int squeezed, const char *via, const struct belt__ac_hits *h,
                               struct belt_error *err)
{
    for (size_t i = 0; i < N_RULES; i++) {
        if (!wanted(ss, i, need, squeezed, h))
            continue;
        if (!ss->md) {
            ss->md = pcre2_match_data_create(4, ss->r->gctx);
            if (!ss->md)
                return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
        }
        int rc = pcre2_match(ss->r->code[i], (PCRE2_SPTR)s, n, 0, 0, ss->md, NULL);
        if (rc >= 0) {
            record(ss, i, via);
        } else if (rc != PCRE2_ERROR_NOMATCH) {
            return belt__error_set(err,
                                   rc == PCRE2_ERROR_NOMEMORY ? BELT_ERR_NOMEM : BELT_ERR_INTERNAL,
                                   rc, "injection rule %s: match error %d", rules[i].id, rc);
        }
    }
    return BELT_OK;
}

/* Literal hits of s[0..n) fed as `feed`, then the wanted rules on the text `make` builds
 * (only when some rule is wanted: decoding is lazy). make == NULL: s itself. */
typedef void make_fn(const char *s, size_t n, struct belt_buf *out, belt_status *st);

static belt_status match_variant(struct scan_state *ss, const char *s, size_t n,
                                 enum belt__ac_feed feed, make_fn *make, unsigned need,
                                 const char *via, struct belt_error *err)
{
    struct belt__ac_hits h;
    memset(&h, 0, sizeof(h));
    if (ss->r->prefilter)
        belt__ac_scan(ss->r->ac, s, n, feed, &h);
    if (!any_wanted(ss, need, 0, &h))
        return BELT_OK;
    if (!make)
        return match_rules(ss, s, n, need, 0, via, &h, err);
    struct belt_buf var;
    belt_buf_init(&var, 0);
    belt_status st = belt_buf_reserve(&var, n);
    if (st == BELT_OK)
        make(s, n, &var, &st);
    if (st == BELT_OK)
        st = match_rules(ss, var.data ? var.data : "", var.len, need, 0, via, &h, err);
    belt_buf_deinit(&var);
    return st;
}

static belt_status scan_text(struct scan_state *ss, const char *text, size_t len, const char *via,
                             struct belt_error *err);

/* 1 if the decoded bytes read as text (UTF-8, mostly printable, a few letters). */
static int readable(const unsigned char *p, size_t n)
{
    if (n < 8 || !belt_utf8_valid((const char *)p, n, NULL))
        return 0;
    size_t ok = 0, letters = 0;
    for (size_t i = 0; i < n; i++) {
        ok += p[i] >= 0x20 || p[i] == '\n' || p[i] == '\t';
        letters += (p[i] | 0x20) >= 'a' && (p[i] | 0x20) <= 'z';
    }
    return ok * 100 >= n * 95 && letters * 2 >= n;
}

/* Which payload patterns could match the text (a superset, in one pass): bit 0 = a run of 16+
 * base64 / base64url characters, bit 1 = 24+ hex digits with at most ' ' / ':' in between. */
static unsigned payload_kinds(const char *t, size_t n)
{
    size_t b64 = 0, hex = 0;
    unsigned kinds = 0;
    for (size_t i = 0; i < n && kinds != 3; i++) {
        unsigned char c = (unsigned char)t[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        int xdig = (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
        b64 = alnum || c == '+' || c == '/' || c == '_' || c == '-' ? b64 + 1 : 0;
        hex = xdig ? hex + 1 : c == ' ' || c == ':' ? hex : 0;
        kinds |= (b64 >= 16 ? 1u : 0u) | (hex >= 24 ? 2u : 0u);
    }
    return kinds;
}

/* Decode every base64 and hex run of the original text and scan the readable ones. */
static belt_status scan_payloads(struct scan_state *ss, const char *text, size_t len,
                                 struct belt_error *err)
{
    static const int variants[] = {
        sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
        sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING};
    const pcre2_code *pats[2] = {ss->r->b64, ss->r->hex};
    unsigned kinds = ss->r->prefilter ? payload_kinds(text, len) : 3;
    belt_status st = BELT_OK;
    if (kinds && !ss->md) {
        ss->md = pcre2_match_data_create(4, ss->r->gctx);
        if (!ss->md)
            return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    }
    for (int k = 0; k < 2 && st == BELT_OK; k++) {
        if (!(kinds & (1u << k)))
            continue;
        PCRE2_SIZE off = 0;
        int budget = 64; /* payloads per text */
        while (off < len && budget-- > 0 && st == BELT_OK) {
            int rc = pcre2_match(pats[k], (PCRE2_SPTR)text, len, off, 0, ss->md, NULL);
            if (rc < 0)
                break;
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(ss->md);
            size_t a = ov[0], b = ov[1];
            off = b > a ? b : a + 1;
            size_t cap = (b - a) / (k == 0 ? 1 : 2) + 4;
            unsigned char *dec = belt_malloc(cap);
            if (!dec)
                return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
            size_t dn = 0;
            int ok = -1;
            if (k == 0) {
                for (size_t v = 0; v < BELT_ARRAY_LEN(variants) && ok != 0; v++)
                    ok = sodium_base642bin(dec, cap, text + a, b - a, NULL, &dn, NULL, variants[v]);
            } else {
                ok = sodium_hex2bin(dec, cap, text + a, b - a, " :", &dn, NULL);
            }
            if (ok == 0 && readable(dec, dn))
                st = scan_text(ss, (const char *)dec, dn, k == 0 ? "base64" : "hex", err);
            belt_free(dec);
        }
    }
    return st;
}

/* Decode %xx and \uXXXX / \xXX escapes when a text has several of them. */
static belt_status scan_escapes(struct scan_state *ss, const char *text, size_t len,
                                struct belt_error *err)
{
    size_t n_esc = 0;
    for (size_t i = 0; i + 2 < len; i++)
        n_esc += (text[i] == '%' && isxdigit((unsigned char)text[i + 1]) &&
                  isxdigit((unsigned char)text[i + 2])) ||
                 (text[i] == '\\' && (text[i + 1] == 'u' || text[i + 1] == 'x'));
    if (n_esc < 4)
        return BELT_OK;
    struct belt_buf b;
    belt_buf_init(&b, len + 1);
    belt_status st = BELT_OK;
    for (size_t i = 0; i < len && st == BELT_OK; i++) {
        unsigned v = 0;
        size_t digits = 0, skip = 0;
        if (text[i] == '%')
            digits = 2, skip = 1;
        else if (text[i] == '\\' && i + 1 < len && text[i + 1] == 'u')
            digits = 4, skip = 2;
        else if (text[i] == '\\' && i + 1 < len && text[i + 1] == 'x')
            digits = 2, skip = 2;
        size_t k = 0;
        for (; digits && k < digits && i + skip + k < len; k++) {
            char c = text[i + skip + k];
            if (!isxdigit((unsigned char)c))
                break;
            v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
        }
        if (digits && k == digits) {
            char enc[4];
            size_t en = belt_utf8_encode((int32_t)v, enc);
            st = belt_buf_append(&b, enc, en);
            i += skip + digits - 1;
        } else {
            st = belt_buf_putc(&b, text[i]);
        }
    }
    if (st == BELT_OK && b.len > 0)
        st = scan_text(ss, b.data, b.len, "escapes", err);
    belt_buf_deinit(&b);
    return st == BELT_ERR_NOMEM ? belt__error_set(err, st, 0, "out of memory") : st;
}

/* The leetspeak and letters-only variants of normalised s[0..n), each only when the text has
 * what they undo. */
static belt_status scan_leet_spaced(struct scan_state *ss, const char *s, size_t n, const char *via,
                                    struct belt_error *err)
{
    struct belt_buf leet, sq;
    belt_buf_init(&leet, 0);
    belt_buf_init(&sq, 0);
    belt_status st = BELT_OK;
    if (has_leet(s, n)) {
        st = belt_buf_reserve(&leet, n);
        if (st == BELT_OK && leet_variant(s, n, &leet, &st) && st == BELT_OK)
            st = match_variant(ss, leet.data, leet.len, BELT__AC_PLAIN, NULL, R_CORE,
                               via[0] ? via : "leet", err);
    }
    const char *base = leet.len ? leet.data : s;
    size_t bn = leet.len ? leet.len : n;
    if (st == BELT_OK && squeezed_variant(base, bn, &sq, &st) && st == BELT_OK) {
        struct belt__ac_hits h;
        memset(&h, 0, sizeof(h));
        if (ss->r->prefilter)
            belt__ac_scan(ss->r->ac, sq.data, sq.len, BELT__AC_PLAIN, &h);
        st = match_rules(ss, sq.data, sq.len, 0, 1, via[0] ? via : "spaced", &h, err);
    }
    belt_buf_deinit(&sq);
    belt_buf_deinit(&leet);
    return st;
}

/* Longest run of single letters each followed by one space, '.' or '-' and another single
 * letter: "s a y t h a t" is 6. Words spelled out like this hide them from word matching. */
static int spaced_run(const char *s, size_t n)
{
    int best = 0, run = 0;
    for (size_t i = 0; i < n; i++) {
        int single = is_lower(s[i]) && (i == 0 || !is_lower(s[i - 1])) &&
                     (i + 1 == n || !is_lower(s[i + 1]));
        if (!single)
            continue;
        int linked = i >= 2 && run > 0 && strchr(" .-", s[i - 1]) && is_lower(s[i - 2]) &&
                     (i < 3 || !is_lower(s[i - 3]));
        run = linked ? run + 1 : 1;
        best = BELT_MAX(best, run);
    }
    return best;
}

/* Every variant of normalised s[0..n) (the original text[0..len) for decoding payloads). */
static belt_status scan_normalized(struct scan_state *ss, const char *text, size_t len,
                                   const char *s, size_t n, const char *via, struct belt_error *err)
{
    const char *plain_via = via[0] ? via : (ss->res->n_tags ? "tags" : "");
    if (ss->depth == 1)
        ss->res->spaced_run = spaced_run(s, n);
    belt_status st = match_variant(ss, s, n, BELT__AC_PLAIN, NULL, 0, plain_via, err);
    if (st == BELT_OK)
        st = scan_leet_spaced(ss, s, n, via, err);
    if (st == BELT_OK && ss->depth == 1)
        st = match_variant(ss, s, n, BELT__AC_ROT13, rot13_variant, R_CORE, "rot13", err);
    if (st == BELT_OK && ss->depth == 1)
        st = match_variant(ss, s, n, BELT__AC_REVERSED, reversed_variant, R_CORE, "reversed", err);
    if (st == BELT_OK)
        st = scan_payloads(ss, text, len, err);
    if (st == BELT_OK && ss->depth == 1)
        st = scan_escapes(ss, text, len, err);
    if (st == BELT_ERR_NOMEM || st == BELT_ERR_TOOBIG)
        return belt__error_set(err, st, 0, "injection rules: %s", belt_strerror(st));
    return st;
}

/* Normalise text and run every variant; recurse into decoded payloads (depth-limited). */
static belt_status scan_text(struct scan_state *ss, const char *text, size_t len, const char *via,
                             struct belt_error *err)
{
    if (ss->depth >= 3)
        return BELT_OK;
    ss->depth++;
    struct belt_buf norm;
    belt_buf_init(&norm, 0);
    int inv = 0, tags = 0;
    belt_status st = belt_buf_reserve(&norm, len);
    if (st == BELT_OK)
        st = belt__inject_normalize(text, len, &norm, &inv, &tags);
    if (ss->depth == 1) {
        ss->res->n_invisible = inv;
        ss->res->n_tags = tags;
    }
    if (st == BELT_OK)
        st = scan_normalized(ss, text, len, norm.data ? norm.data : "", norm.len, via, err);
    else
        st = belt__error_set(err, st, 0, "injection rules: %s", belt_strerror(st));
    belt_buf_deinit(&norm);
    ss->depth--;
    return st;
}

/* Hidden or spelled-out text: tag characters smuggle invisible text; zero-width characters
 * inside words split trigger phrases; a long run of letters written one by one ("S a y t h a
 * t y o u ...") hides words from every word-based check. */
static void score_hidden(struct belt__inject_result *out, enum belt_guard_source src)
{
    double hidden = out->n_tags > 0         ? 0.9
                    : out->n_invisible >= 3 ? 0.4
                    : out->n_invisible > 0  ? 0.2
                                            : 0;
    const char *id = out->n_tags ? "obfuscation.tag_characters" : "obfuscation.invisible";
    double spaced = out->spaced_run < 8 ? 0 : src == BELT_GUARD_SOURCE_USER ? 0.55 : 0.6;
    double ws[2] = {hidden, spaced};
    const char *ids[2] = {id, "obfuscation.spaced_letters"};
    for (int k = 0; k < 2; k++) {
        if (ws[k] <= 0)
            continue;
        out->score = 1 - (1 - out->score) * (1 - ws[k]);
        if (ws[k] > out->best_weight) {
            out->best_weight = ws[k];
            snprintf(out->best_id, sizeof(out->best_id), "%s", ids[k]);
            out->best_via[0] = '\0';
        }
    }
}

belt_status belt__inject_rules_score_normalized(const struct belt__inject_rules *r,
                                                enum belt_guard_source src, const char *text,
                                                size_t len, const char *norm, size_t norm_len,
                                                int n_invisible, int n_tags,
                                                struct belt__inject_result *out,
                                                struct belt_error *err)
{
    memset(out, 0, sizeof(*out));
    struct scan_state ss;
    memset(&ss, 0, sizeof(ss));
    ss.r = r;
    ss.src = src;
    ss.res = out;
    ss.depth = 1;
    out->n_invisible = n_invisible;
    out->n_tags = n_tags;
    belt_status st = scan_normalized(&ss, text, len, norm, norm_len, "", err);
    pcre2_match_data_free(ss.md);
    if (st != BELT_OK)
        return st;
    score_hidden(out, src);
    return BELT_OK;
}

belt_status belt__inject_rules_score(const struct belt__inject_rules *r, enum belt_guard_source src,
                                     const char *text, size_t len, struct belt__inject_result *out,
                                     struct belt_error *err)
{
    memset(out, 0, sizeof(*out));
    struct scan_state ss;
    memset(&ss, 0, sizeof(ss));
    ss.r = r;
    ss.src = src;
    ss.res = out;
    belt_status st = scan_text(&ss, text, len, "", err);
    pcre2_match_data_free(ss.md);
    if (st != BELT_OK)
        return st;
    score_hidden(out, src);
    return BELT_OK;
}
