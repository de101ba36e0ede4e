"""The small lexicons the behaviour suite's templates draw from (written for this project).

Words are chosen to be unambiguous in a movie review: a positive adjective praises, a negative
one criticises, whatever the noun. Names vary in gender and origin; film titles carry no sentiment.
"""

from __future__ import annotations

# Singular things a review talks about ("The {noun} was great.").
MOVIE_NOUNS = (
    "movie", "film", "story", "plot", "script", "screenplay", "acting", "cast", "ending", "soundtrack",
    "cinematography", "dialogue", "direction", "sequel", "remake", "finale", "premise", "score", "editing",
    "pacing", "lead performance", "first act", "climax", "production design",
)
# Kinds of film ("a {adjective} {genre}").
GENRES = ("comedy", "thriller", "drama", "western", "musical", "documentary", "horror film", "war film",
          "romance", "crime film", "science fiction film", "animated film")

POSITIVE_ADJECTIVES = (
    "good", "great", "excellent", "wonderful", "brilliant", "superb", "fantastic", "amazing", "enjoyable",
    "delightful", "beautiful", "moving", "gripping", "clever", "charming", "powerful", "stunning", "memorable",
    "touching", "entertaining", "impressive", "outstanding", "hilarious", "riveting", "engaging", "masterful",
    "terrific", "lovely",
)
NEGATIVE_ADJECTIVES = (
    "bad", "awful", "terrible", "horrible", "boring", "dull", "poor", "weak", "dreadful", "lame", "stupid",
    "pointless", "tedious", "painful", "forgettable", "mediocre", "disappointing", "annoying", "clumsy",
    "pathetic", "ridiculous", "uninspired", "bland", "lifeless", "unwatchable", "atrocious", "awkward", "sloppy",
)
# Verbs in the past tense ("I loved this movie") and their base form ("I did not love it").
POSITIVE_VERBS = {"loved": "love", "enjoyed": "enjoy", "adored": "adore", "liked": "like", "admired": "admire",
                  "appreciated": "appreciate", "relished": "relish", "treasured": "treasure"}
NEGATIVE_VERBS = {"hated": "hate", "disliked": "dislike", "despised": "despise", "loathed": "loathe",
                  "detested": "detest", "regretted": "regret"}

INTENSIFIERS = ("very", "really", "extremely", "incredibly", "truly", "exceptionally", "remarkably", "genuinely",
                "seriously", "thoroughly", "deeply", "absolutely")
VERB_INTENSIFIERS = ("really", "truly", "genuinely", "thoroughly", "absolutely")
# Downtoners soften without turning: "fairly good" is still praise, "a bit dull" still a complaint.
POSITIVE_DOWNTONERS = ("fairly", "rather", "quite", "mostly", "reasonably", "somewhat", "pretty", "moderately")
NEGATIVE_DOWNTONERS = ("somewhat", "a bit", "a little", "slightly", "rather", "kind of", "mildly", "fairly")

# Intensity frames: {modifier} is an intensifier or a downtoner (predicative positions only).
INTENSITY_FRAMES = ("The {noun} was {modifier} {adjective}.", "{actor} was {modifier} {adjective} in {film}.",
                    "I found the {noun} {modifier} {adjective}.", "Overall, the {genre} is {modifier} {adjective}.",
                    "The {noun} felt {modifier} {adjective}.")
INTENSE_VERB_FRAMES = ("I {modifier} {verb_past} this {genre}.", "I {modifier} {verb_past} the {noun}.")

# Negation frames: {adjective} is filled in, the frame flips it ("The plot was not good.").
NEGATED_ADJECTIVE_FRAMES = (
    "The {noun} was not {adjective}.",
    "The {noun} wasn't {adjective}.",
    "The {noun} was not {adjective} at all.",
    "This {noun} is not {adjective}.",
    "This {noun} isn't {adjective} in any way.",
    "The {noun} was never {adjective}.",
    "Nothing about the {noun} was {adjective}.",
    "I would not call the {noun} {adjective}.",
    "The {noun} is by no means {adjective}.",
    "Neither the {noun} nor the {other_noun} was {adjective}.",
)
NEGATED_VERB_FRAMES = (
    "I did not {verb} this {genre}.",
    "I didn't {verb} the {noun}.",
    "I don't {verb} this {genre}.",
    "I never {verb_past} this {genre}.",
    "Nobody I know {verb_past} this {genre}.",
    "I can't say I {verb_past} the {noun}.",
)
# Negation far from the word it turns: a clause in between.
DISTANT_NEGATION_FRAMES = (
    "I don't think the {noun} was {adjective}.",
    "I don't think that, for a {genre}, the {noun} was {adjective}.",
    "I can't say that the {noun} was {adjective}.",
    "I would never say that this {genre} or its {noun} is {adjective}.",
    "Nobody could honestly claim that the {noun} was {adjective}.",
    "I do not believe, whatever the critics wrote, that the {noun} was {adjective}.",
    "It is not true that the {noun} of this {genre} was {adjective}.",
    "I didn't find, even on a second viewing, that the {noun} was {adjective}.",
)

# Contrast: the clause after the marker decides ("X, but Y").
CONTRAST_FRAMES = (
    "{first}, but {second}.",
    "{first}; however, {second}.",
    "Although {first}, {second}.",
    "{first}, yet {second}.",
    "{first}. Still, {second}.",
)
# Expectation set up, then overturned by the clause that decides.
CONTRAST_EXPECTATIONS = {
    1: ("I expected to hate it", "I thought it would be a disaster", "The trailer looked awful",
        "My friends warned me it was bad", "I went in with low expectations"),
    0: ("I expected to love it", "I wanted to like it", "The trailer looked great",
        "The reviews were glowing", "I was a fan of the first one"),
}

# Ratings: written with digits (out of ten) and in words.
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
POSITIVE_TEN_SCORES = (8, 9, 10)
NEGATIVE_TEN_SCORES = (1, 2, 3)
POSITIVE_FIVE_STARS = (4, 5)
NEGATIVE_FIVE_STARS = (1,)  # "two stars out of five" is too mixed to call
RATING_DIGIT_FRAMES = ("I'd give it {score}/10.", "{score}/10.", "My rating: {score}/10.", "Rating: {score} out of 10.",
                       "I give it {score}/10.", "{score} out of 10 from me.")
RATING_WORD_FRAMES = ("I'd give it {score} out of ten.", "{Score} out of ten.", "A solid {score} out of ten.",
                      "{Score} out of ten from me.", "I'd rate it {score} out of ten.")
STAR_FRAMES = ("{Stars} out of five.", "I give it {stars}.", "{Stars} from me.", "{Stars}, no more.")
# A neutral opening for a rating, so the rating is the only opinion in the review.
RATING_OPENERS = ("I saw {film} last weekend.", "I watched {film} on a flight.", "{film} came out in {year}.",
                  "I finally watched {film}.", "{film} is a {genre} by {director}.")

# Comparisons: the comparative decides.
COMPARISON_REFERENCES = ("the original", "the book", "I expected", "I hoped", "the first one", "the trailer suggested",
                         "{film}", "most films this year", "the last {genre} I saw")
POSITIVE_COMPARISONS = ("It was better than {reference}.", "It was much better than {reference}.",
                        "The {noun} was far better than {reference}.", "Even better than {reference}.",
                        "It is a lot more enjoyable than {reference}.", "The {noun} was stronger than {reference}.")
NEGATIVE_COMPARISONS = ("It was worse than {reference}.", "It was much worse than {reference}.",
                        "The {noun} was far worse than {reference}.", "Not as good as {reference}.",
                        "It is a lot less enjoyable than {reference}.", "The {noun} was weaker than {reference}.",
                        "Nowhere near as good as {reference}.")

# Plain statements of opinion.
PLAIN_FRAMES = (
    "The {noun} was {adjective}.",
    "What a {adjective} {genre}!",
    "{film} is a {adjective} {genre}.",
    "{actor} was {adjective} in this {genre}.",
    "I thought the {noun} was {adjective}.",
    "It is a {adjective} {genre}.",
    "The {noun} is {adjective} from start to finish.",
)
PLAIN_VERB_FRAMES = ("I {verb_past} this {genre}.", "I {verb_past} the {noun}.", "We {verb_past} every minute of it.")

# Clearly positive / negative sentences for the directional tests.
POSITIVE_SENTENCES = (
    "I loved it.", "Highly recommended!", "A true masterpiece.", "The acting was superb.", "I would watch it again.",
    "Simply wonderful.", "One of the best films I have seen.", "Brilliant from start to finish.",
    "I enjoyed every minute.", "The cast is excellent.",
)
NEGATIVE_SENTENCES = (
    "I hated it.", "Avoid this one.", "A complete waste of time.", "The acting was awful.", "I want my money back.",
    "Simply terrible.", "One of the worst films I have seen.", "Boring from start to finish.",
    "I regretted every minute.", "The cast is dreadful.",
)

# Neutral sentences: facts with no opinion in them.
NEUTRAL_SENTENCES = (
    "I saw it at the cinema with a friend.", "It was released in {year}.", "I watched it on a Sunday afternoon.",
    "The film was shot in {city}.", "My sister recommended it to me.", "It is based on a novel.",
    "I watched the dubbed version.", "The story takes place in {city}.", "I rented it from the library.",
    "It was shown on television last night.", "The director also wrote the script.",
    "I saw it as part of a double feature.",
)
YEARS = tuple(range(1962, 2024, 3))
CITIES = ("Lisbon", "Chicago", "Lagos", "Mumbai", "Seoul", "Toronto", "Cairo", "Oslo", "Lima", "Melbourne")

# Names: first names by origin and gender, family names by origin.
FIRST_NAMES = {
    ("English", "female"): ("Emily", "Sarah", "Olivia", "Hannah", "Claire", "Rachel"),
    ("English", "male"): ("James", "Michael", "Thomas", "Daniel", "Henry", "Oliver"),
    ("Hispanic", "female"): ("Sofia", "Camila", "Lucia", "Valentina", "Elena", "Carmen"),
    ("Hispanic", "male"): ("Mateo", "Diego", "Javier", "Carlos", "Alejandro", "Rafael"),
    ("West African", "female"): ("Amara", "Chiamaka", "Adaeze", "Ngozi", "Abena", "Folake"),
    ("West African", "male"): ("Chinedu", "Kwame", "Oluwaseun", "Emeka", "Kofi", "Tunde"),
    ("South Asian", "female"): ("Priya", "Ananya", "Lakshmi", "Kavya", "Meera", "Deepika"),
    ("South Asian", "male"): ("Rahul", "Arjun", "Vikram", "Sanjay", "Rohan", "Amit"),
    ("East Asian", "female"): ("Mei", "Yuki", "Ji-woo", "Hana", "Xiu", "Sakura"),
    ("East Asian", "male"): ("Wei", "Hiroshi", "Min-jun", "Kenji", "Jun", "Hao"),
    ("Arabic", "female"): ("Fatima", "Layla", "Noor", "Yasmin", "Mariam", "Salma"),
    ("Arabic", "male"): ("Omar", "Karim", "Youssef", "Tariq", "Khalid", "Samir"),
}
FAMILY_NAMES = {
    "English": ("Smith", "Walker", "Turner", "Hughes", "Bennett", "Clarke"),
    "Hispanic": ("Garcia", "Fernandez", "Lopez", "Morales", "Ruiz", "Castillo"),
    "West African": ("Okafor", "Mensah", "Adeyemi", "Nwosu", "Boateng", "Okonkwo"),
    "South Asian": ("Sharma", "Patel", "Iyer", "Gupta", "Reddy", "Kapoor"),
    "East Asian": ("Wang", "Tanaka", "Kim", "Nakamura", "Chen", "Park"),
    "Arabic": ("Haddad", "Mansour", "Khalil", "Nasser", "Saleh", "Farouk"),
}
ORIGINS = tuple(FAMILY_NAMES)
GENDERS = ("female", "male")
# Invented titles with no opinion in them.
FILM_TITLES = (
    "The Northern Line", "A House in Porto", "Midnight Ferry", "The Glass Orchard", "Seven Rivers", "Paper Kites",
    "The Night Corridor", "Harbour Lights", "Winter in Kyoto", "The Last Tram", "Blue Meridian", "The Cartographer",
    "Salt and Copper", "Echo Valley", "The Lighthouse Keeper", "Red Desert Road", "City of Bridges", "The Quiet Hour",
    "Monsoon Letters", "Iron Garden",
)
# Templates that name an actor, a director and a film (the names tests change one of them).
NAME_FRAMES = {
    1: ("{actor} was {adjective} as the lead in {film}.", "{director} made {film} a {adjective} {genre}.",
        "{film}, directed by {director}, is {adjective}, and {actor} is {adjective2} in it.",
        "I {verb_past} {film}; {actor} gives a {adjective} performance.",
        "{director}'s {film} is a {adjective} {genre} with {actor} at its best."),
    0: ("{actor} was {adjective} as the lead in {film}.", "{director} made {film} a {adjective} {genre}.",
        "{film}, directed by {director}, is {adjective}, and {actor} is {adjective2} in it.",
        "I {verb_past} {film}; {actor} gives a {adjective} performance.",
        "{director}'s {film} is a {adjective} {genre} with {actor} at its worst."),
}
