"""The self-checked "Check your understanding" questions of every notebook (not named ``questions``:
that name is the package's function listing them).

Each question has a definite answer (a letter listed in the notebook's markdown, or a number) and an
explanation for every choice: why it is right, or what is wrong with it (the checker puts "✅ Right:"
or "❌ Not quite:" before it). The solution notebook calls ``answer("<id>", <choice>);``, the student
notebook gets ``answer("<id>", None);``. The open questions keep their model answers in the notebooks'
``answer`` cells.
"""
from __future__ import annotations

from labkit_instructor.exercises import Question, register_question

CHOICES = ("a", "b", "c", "d")

# --------------------------------------------------------------------------------------------------
# 01 · A baseline model worth monitoring
# --------------------------------------------------------------------------------------------------
register_question(Question(
    "01.q_leakage", "A suspiciously good score", answer="b", choices=CHOICES, explanations={
        "a": "Overfitting is not the suspect: it makes a model shine on its training rows and do *worse* on "
             "held-out ones. A near-perfect score on held-out hours points the other way: the model has information "
             "it should not have. Look for leakage.",
        "b": "A near-perfect held-out score usually means target leakage: a feature that contains the "
             "answer (here casual + registered = cnt) or is only known after the hour. Such a model shines in "
             "the notebook and is useless in production, where those values do not exist yet.",
        "c": "The reference quarter holds about 2,200 hours, plenty to measure R². The number is too good, "
             "not too noisy: ask where the model got its information from.",
        "d": "Demand depends on things no feature records (events, moods, a friend's call), so an honest "
             "model stays well below 1; the baseline reaches about 0.85. A score of 0.999 means the model "
             "reads the answer somewhere: leakage.",
    }))

# --------------------------------------------------------------------------------------------------
# 02 · Simulating drift
# --------------------------------------------------------------------------------------------------
register_question(Question(
    "02.q_virtual_drift", "Drift without harm", answer="b", choices=CHOICES, explanations={
        "a": "Concept drift changes P(y | x), the relation between inputs and demand. It shows in the "
             "error, often with no change in the inputs at all. Here the inputs moved and the error did not.",
        "b": "The inputs drifted, but the model handles the new values as well as the old ones, like "
             "the November cooled by 1.5 sd in the catalogue. It deserves a look in working hours (the next "
             "shift may hurt), not a page at night: page on drift that comes with a performance signal.",
        "c": "Prior drift changes P(y), the mix of target values (more busy hours, say). The question "
             "describes a change in an input, temperature, that left the error alone.",
        "d": "The temperature really shifted, so the monitor reported a real change; a false alarm is an "
             "alarm without a change. What an input monitor cannot tell is whether the change matters, and "
             "here it does not: that is virtual drift.",
    }))

# --------------------------------------------------------------------------------------------------
# 03 · Detecting drift
# --------------------------------------------------------------------------------------------------
register_question(Question(
    "03.q_false_alarms", "False alarms from many tests", answer=2.5, digits=2, explanations={
        "right": "When nothing changed, each test fires with probability α = 0.05, so 50 tests give "
                 "50 × 0.05 = 2.5 false alarms a day on average, and at least one on about 92% of days "
                 "(1 − 0.95^50). Correct for multiple testing (Bonferroni, α/50 per test, bounds the chance of "
                 "any false alarm; Benjamini–Hochberg bounds the share of false alarms among the flagged "
                 "features) and calibrate the thresholds on clean data.",
    }, wrong="When nothing changes, a single test raises a false alarm with probability α. "
             "The expected number of alarms is the sum of the expected alarms of each test."))

# --------------------------------------------------------------------------------------------------
# 04 · A monitoring dashboard
# --------------------------------------------------------------------------------------------------
register_question(Question(
    "04.q_label_delay", "Which panel waits for labels", answer="c", choices=CHOICES, explanations={
        "a": "Data quality needs only the inputs that arrived. Missing values, out-of-range shares and "
             "completeness are known as soon as the requests are logged.",
        "b": "Drift compares today's inputs with the reference inputs, no labels needed. That is why drift "
             "is the usual early warning when labels are slow, even though it cannot see concept drift.",
        "c": "MAE, bias and R² compare predictions with observed demand, which arrives 30 days later, so "
             "this panel can only show the windows of a month ago. Until then data quality, drift, the "
             "prediction distribution and system health keep watch; a small labelled sample narrows the gap.",
        "d": "Latency, throughput and errors are measured by the service itself while it answers, with no "
             "labels at all.",
    }))

register_question(Question(
    "04.q_calendar_drift", "Calendar features that always drift", answer="b", choices=CHOICES, explanations={
        "a": "The values are valid (a data-quality check of allowed values passes). What is wrong is the "
             "comparison, not the data.",
        "b": "A daily window holds one weekday and one month, while the reference quarter spans every "
             "weekday of three months, so the two distributions differ by construction. Compare calendar "
             "features over whole cycles (weeks, months) or with the same period of the reference, or leave "
             "them out of drift monitoring and only check that their values are valid.",
        "c": "The sample size is not the cause. A day contains one weekday out of seven, so even a perfect "
             "test on a million rows per day would report the same difference.",
        "d": "The calendar is the same every year. Nothing about the riders is needed to explain it: a day "
             "simply cannot contain the weekdays and months the reference contains.",
    }))

# --------------------------------------------------------------------------------------------------
# 05 · Alerting
# --------------------------------------------------------------------------------------------------
register_question(Question(
    "05.q_error_alert_delay", "Why an error alert comes late", answer="b", choices=CHOICES, explanations={
        "a": "The threshold is not the cause: even a threshold of zero could not fire on the first day, because "
             "no error is known yet. The error of day d needs the labels of day d.",
        "b": "An error needs labels. Here they arrive two days late, so day d's error is known on day d + 3, "
             "and a `for` duration adds its days on top. Signals read from the inputs (drift, data quality, "
             "the prediction distribution) and a small, quickly labelled sample can warn earlier.",
        "c": "The rules here are evaluated on every daily window (Prometheus evaluates them every few "
             "seconds). The delay is in the data: the labels of the bad day do not exist yet.",
        "d": "A cooldown only holds back repeated messages of an alert that already fired; the first message "
             "of an episode always goes out. The error alert cannot fire at all before the labels arrive.",
    }))

register_question(Question(
    "05.q_for_vs_cooldown", "A for duration or a cooldown", answer="b", choices=CHOICES, explanations={
        "a": "They act at different moments. `for` decides whether and when an alert fires; a cooldown decides "
             "how often a firing (or re-firing) alert sends a message. A flapping signal shows the "
             "difference: `for` keeps its short blips from firing, the cooldown its repeats from paging.",
        "b": "`for` filters short blips: the alert stays pending until the condition has held for the whole "
             "duration. The cooldown acts after firing: no new message for the same alert within the "
             "cooldown, even if it flaps. Your held_for and apply_cooldown are exactly these two.",
        "c": "This swaps them. `for` (your held_for) works on the condition, before the alert fires; the "
             "cooldown (your apply_cooldown) works on the messages, after it fired.",
        "d": "Neither keeps an alert firing after its condition clears. `for` delays firing until the "
             "condition has held; a cooldown spaces out the messages of an alert that fires again.",
    }))

# --------------------------------------------------------------------------------------------------
# 06 · Degradation analysis
# --------------------------------------------------------------------------------------------------
register_question(Question(
    "06.q_loss_estimate", "Why the loss estimate was blind", answer="b", choices=CHOICES, explanations={
        "a": "Once fitted it needs no labels. It predicts the error from the inputs and the prediction; "
             "that is its appeal, and also its limit.",
        "b": "The estimator learned on the reference where the model errs given the inputs. Ridership "
             "grew while the inputs stayed familiar (concept drift), so every 2012 hour looked as safe as a "
             "2011 hour. Trust it for covariate drift: inputs moving into regions where the model is known to "
             "err (Going further shows a winter-trained model meeting summer).",
        "c": "A week holds about 168 hours, enough for a steady average; the estimate was steady and "
             "steadily wrong. The problem is what it reads, not how much.",
        "d": "It was fitted on the reference quarter, held-out hours with honest errors. Even a perfect "
             "fit there cannot see growth that leaves the inputs unchanged.",
    }))
