"""The lexicon of meaning-changing edits (written for this project): words with an opposite of the same part of
speech, negatable auxiliaries and their negations, intensifiers. `data.edits` proposes edits from it.

Each pair is (positive, negative); a word in several pairs takes its first. Words are lower case; an edit keeps
the case the review typed.
"""

from __future__ import annotations

# (positive, negative) adjectives, comparatives and superlatives.
ADJECTIVES = (
    ("good", "bad"), ("great", "terrible"), ("excellent", "awful"), ("wonderful", "dreadful"), ("brilliant", "dull"),
    ("superb", "poor"), ("fantastic", "horrible"), ("amazing", "boring"), ("enjoyable", "tedious"),
    ("delightful", "annoying"), ("beautiful", "ugly"), ("best", "worst"), ("better", "worse"), ("perfect", "flawed"),
    ("funny", "unfunny"), ("hilarious", "lame"), ("interesting", "uninteresting"), ("clever", "stupid"),
    ("charming", "irritating"), ("powerful", "weak"), ("memorable", "forgettable"), ("entertaining", "tiresome"),
    ("impressive", "unimpressive"), ("outstanding", "mediocre"), ("riveting", "plodding"), ("engaging", "tiresome"),
    ("masterful", "clumsy"), ("terrific", "atrocious"), ("lovely", "nasty"), ("gripping", "slow"),
    ("fascinating", "uninteresting"), ("compelling", "unconvincing"), ("convincing", "unconvincing"),
    ("believable", "unbelievable"), ("likable", "unlikable"), ("likeable", "unlikeable"), ("original", "derivative"),
    ("fresh", "stale"), ("smart", "dumb"), ("intelligent", "idiotic"), ("strong", "weak"), ("solid", "shaky"),
    ("satisfying", "disappointing"), ("pleasant", "unpleasant"), ("nice", "nasty"), ("decent", "lousy"),
    ("worthwhile", "worthless"), ("exciting", "boring"), ("meaningful", "pointless"), ("pleasurable", "painful"),
    ("admirable", "pathetic"), ("sensible", "ridiculous"), ("vivid", "bland"), ("lively", "lifeless"),
    ("watchable", "unwatchable"), ("graceful", "awkward"), ("polished", "sloppy"), ("surprising", "predictable"),
    ("classy", "cheesy"), ("coherent", "incoherent"), ("clear", "confusing"), ("underrated", "overrated"),
    ("natural", "wooden"), ("deep", "shallow"), ("professional", "amateurish"), ("bearable", "unbearable"),
    ("impressed", "disappointed"), ("entertained", "bored"), ("fun", "dull"), ("favorite", "least favorite"),
    ("favourite", "least favourite"), ("superior", "inferior"), ("stunning", "drab"), ("moving", "trite"),
    ("touching", "cloying"), ("flawless", "flawed"), ("tight", "bloated"), ("gorgeous", "hideous"),
    ("magnificent", "miserable"), ("marvelous", "lousy"), ("marvellous", "lousy"), ("remarkable", "unremarkable"),
    ("successful", "unsuccessful"), ("inspired", "uninspired"), ("inspiring", "uninspiring"),
    ("realistic", "unrealistic"), ("happy", "unhappy"), ("pleased", "displeased"), ("sympathetic", "unsympathetic"),
    ("subtle", "heavy-handed"), ("coherent", "muddled"), ("thrilling", "tedious"), ("refreshing", "tiresome"),
    ("suspenseful", "predictable"), ("worthy", "unworthy"), ("recommended", "avoidable"), ("fine", "poor"),
    ("impressive", "laughable"), ("skilled", "inept"), ("proud", "ashamed"), ("admirable", "embarrassing"),
    ("plausible", "ludicrous"), ("great", "crappy"), ("charming", "obnoxious"), ("professional", "amateur"),
    ("authentic", "fake"), ("unpretentious", "pretentious"), ("delightful", "disgusting"), ("inventive", "lazy"),
    ("respectful", "offensive"), ("lively", "flat"), ("sensible", "absurd"), ("believable", "contrived"),
    ("necessary", "unnecessary"), ("nuanced", "stereotypical"), ("serious", "silly"), ("polished", "cheap"),
    ("fresh", "clichéd"), ("fresh", "cliched"), ("breathtaking", "dreary"), ("extraordinary", "ordinary"),
    ("finest", "weakest"), ("poignant", "mawkish"), ("haunting", "forgettable"), ("chilling", "tame"),
    ("unexpected", "predictable"), ("sensitive", "insensitive"), ("fabulous", "abysmal"), ("unique", "generic"),
    ("incredible", "dismal"), ("warm", "cold"), ("awesome", "lousy"), ("spectacular", "lackluster"),
    ("mature", "juvenile"), ("touched", "unmoved"), ("complex", "simplistic"), ("sweet", "sour"),
    ("greatest", "worst"), ("witty", "witless"), ("magical", "mundane"), ("essential", "unnecessary"),
    ("legendary", "forgotten"), ("sharp", "dull"), ("emotional", "emotionless"), ("favorites", "least favorites"),
    ("fortunate", "unfortunate"), ("interested", "bored"), ("enthralling", "tedious"), ("hooked", "bored"),
    ("awake", "asleep"), ("uplifting", "depressing"), ("strongest", "weakest"), ("smartest", "dumbest"),
    ("unforgettable", "forgettable"), ("thoughtful", "thoughtless"), ("splendid", "shabby"), ("redeeming", "damning"),
    ("alright", "wrong"), ("engrossing", "tedious"), ("heartwarming", "heartless"), ("believable", "implausible"),
)
# (positive, negative) adverbs.
ADVERBS = (
    ("well", "badly"), ("beautifully", "poorly"), ("brilliantly", "terribly"), ("perfectly", "badly"),
    ("wonderfully", "awfully"), ("superbly", "poorly"), ("nicely", "clumsily"), ("skillfully", "clumsily"),
    ("convincingly", "unconvincingly"), ("excellently", "dreadfully"), ("greatly", "barely"),
    ("wonderfully", "horribly"), ("pleasantly", "painfully"), ("fortunately", "unfortunately"), ("happily", "sadly"),
    ("effectively", "ineffectively"), ("thankfully", "regrettably"), ("magnificently", "miserably"),
    ("sharply", "sloppily"), ("masterfully", "clumsily"), ("superbly", "terribly"), ("ideally", "poorly"),
    ("faithfully", "loosely"), ("famously", "infamously"),
)
# (positive, negative) nouns.
NOUNS = (
    ("masterpiece", "disaster"), ("gem", "dud"), ("classic", "flop"), ("pleasure", "chore"), ("success", "failure"),
    ("joy", "pain"), ("delight", "bore"), ("strength", "weakness"), ("strengths", "weaknesses"), ("treat", "mess"),
    ("triumph", "failure"), ("highlight", "low point"), ("masterpieces", "disasters"), ("gems", "duds"),
    ("brilliance", "incompetence"), ("fun", "misery"), ("beauty", "ugliness"), ("genius", "hack"),
    ("wealth", "waste"), ("compliment", "insult"), ("intelligence", "stupidity"), ("gem", "crap"),
    ("treasure", "garbage"), ("treasure", "junk"), ("treasure", "trash"), ("gold", "rubbish"), ("winner", "turkey"),
    ("revelation", "disappointment"), ("genius", "idiot"), ("triumph", "joke"), ("sense", "nonsense"),
    ("excitement", "boredom"), ("winner", "loser"), ("surprises", "clichés"), ("surprises", "cliches"),
    ("favorite", "least favorite"),
)
# (positive, negative) verbs in every form a review uses.
VERBS = (
    ("love", "hate"), ("loved", "hated"), ("loves", "hates"), ("loving", "hating"), ("like", "dislike"),
    ("liked", "disliked"), ("likes", "dislikes"), ("enjoy", "endure"), ("enjoyed", "endured"), ("enjoys", "endures"),
    ("adore", "despise"), ("adored", "despised"), ("admire", "detest"), ("admired", "detested"),
    ("recommend", "discourage"), ("impress", "disappoint"), ("impresses", "disappoints"), ("succeeds", "fails"),
    ("succeed", "fail"), ("succeeded", "failed"), ("works", "fails"), ("worked", "failed"), ("shines", "flounders"),
    ("has", "lacks"), ("had", "lacked"), ("rocks", "sucks"), ("rock", "suck"), ("rocked", "sucked"),
    ("spent", "wasted"), ("spending", "wasting"), ("saved", "ruined"), ("saves", "ruins"), ("see", "avoid"),
    ("praise", "criticise"), ("praised", "criticised"), ("appreciated", "resented"),
    ("rocks", "stinks"), ("rocked", "stank"),
)
OPPOSITE_PAIRS = ADJECTIVES + ADVERBS + NOUNS + VERBS

# Auxiliaries and their negated forms ("is" -> "is not", "isn't"); the first negation is the contracted one.
NEGATED_AUXILIARIES = {
    "is": ("isn't", "is not"), "was": ("wasn't", "was not"), "are": ("aren't", "are not"),
    "were": ("weren't", "were not"), "do": ("don't", "do not"), "does": ("doesn't", "does not"),
    "did": ("didn't", "did not"), "has": ("hasn't", "has not"), "have": ("haven't", "have not"),
    "had": ("hadn't", "had not"), "will": ("won't", "will not"), "can": ("can't", "cannot"),
    "could": ("couldn't", "could not"), "would": ("wouldn't", "would not"), "should": ("shouldn't", "should not"),
    "must": ("mustn't", "must not"), "am": ("am not",),
}
# Contracted pronoun + verb that take a "not" after them ("it's" -> "it's not").
CONTRACTED_COPULAS = ("it's", "that's", "he's", "she's", "there's", "here's", "this's", "they're", "we're",
                      "you're", "i'm", "what's")
# Negations and what removing them leaves ("isn't" -> "is"; "not" is removed with the space before it).
UNNEGATED = {
    "isn't": "is", "wasn't": "was", "aren't": "are", "weren't": "were", "don't": "do", "doesn't": "does",
    "didn't": "did", "hasn't": "has", "haven't": "have", "hadn't": "had", "won't": "will", "can't": "can",
    "couldn't": "could", "wouldn't": "would", "shouldn't": "should", "mustn't": "must", "ain't": "is",
    "cannot": "can", "never": "always", "nothing": "everything", "nobody": "everybody", "nowhere": "everywhere",
    "no": "some", "none": "all", "neither": "either", "nor": "or", "without": "with", "not": "", "scarcely": "",
    "hardly": "", "barely": "",
}
# The words that open a negation's scope (what a negation turns runs from one of them to a scope end).
NEGATION_CUES = tuple(UNNEGATED)
# Frames that negate a whole sentence from a clause away ("I wouldn't agree that the plot was good."). Their words
# are none of the behaviour suite's distant negations (think, say, claim, believe, true, find): what is learnt must
# carry over.
DISTANT_NEGATIONS = ("I wouldn't agree that", "I am not convinced that", "I'm not persuaded that")
# Words that join two clauses of opposite sentiment ("good, but too long"), the second of which decides: a sentence
# with one inside it (or opening with a subordinating one, "Although ...") has a polarity a lexicon cannot read.
CONTRAST_MARKERS = ("but", "yet", "however", "although", "though", "whereas", "while", "despite", "nevertheless",
                    "nonetheless")
# Where a negation's scope ends: the clause's end or a contrast marker ("not funny but moving"); a model that reads
# no order beyond bigrams also ends it at a comma (training.run.NEGATION_SCOPE_ENDS).
NEGATION_SCOPE_ENDS = (".", "!", "?", ";", ":") + CONTRAST_MARKERS
SUBORDINATING_CONTRASTS = ("although", "though", "whereas", "while", "despite")
# Words that make the next one stronger; an intensity edit turns them down to "hardly".
INTENSIFIERS = ("very", "really", "extremely", "incredibly", "truly", "highly", "absolutely", "totally", "utterly",
                "completely", "thoroughly", "deeply", "so", "exceptionally", "remarkably", "genuinely", "too",
                "downright")
DOWNTONER = "hardly"
# Opposites by their form, for words the pairs above miss, kept only where the opposite is a word a model knows
# (its vocabulary): "un" + a word with an adjective's or adverb's ending ("believable" <-> "unbelievable"), and
# "-ful" <-> "-less" ("thoughtful" <-> "thoughtless").
NEGATIVE_PREFIX = "un"
ADJECTIVE_ENDINGS = ("able", "ible", "ful", "ed", "ing", "ly", "ive", "al", "ic", "ous", "y", "ent", "ant", "ate",
                     "ish", "ar")
SUFFIX_OPPOSITES = (("ful", "less"),)


# The strongest words of each part of speech, (positive, negative): a word may also take these as opposites, so a
# search can turn a weak word into a strong one of the other side ("fine" -> "poor" | "awful" | "terrible").
STRONG_OPPOSITES = {
    "adjective": (("excellent", "brilliant"), ("awful", "terrible")),
    "adverb": (("brilliantly", "wonderfully"), ("terribly", "awfully")),
    "noun": (("masterpiece", "gem"), ("disaster", "mess")),
}
MOST_OPPOSITES = 3  # per word: each is one more review to predict
PARTS_OF_SPEECH = {"adjective": ADJECTIVES, "adverb": ADVERBS, "noun": NOUNS, "verb": VERBS}


def opposites() -> dict[str, tuple[str, ...]]:
    """Each lexicon word -> at most MOST_OPPOSITES opposites: those it is paired with (first pair first), then the
    strongest words of the other side of its part of speech."""
    table: dict[str, list[str]] = {}
    for part, pairs in PARTS_OF_SPEECH.items():
        strong_positive, strong_negative = STRONG_OPPOSITES.get(part, ((), ()))
        for positive, negative in pairs:
            table.setdefault(positive, []).append(negative)
            table.setdefault(negative, []).append(positive)
        for positive, negative in pairs:
            table[positive] += strong_negative
            table[negative] += strong_positive
    return {word: tuple(o for o in dict.fromkeys(found) if o != word)[:MOST_OPPOSITES] for word, found in table.items()}
