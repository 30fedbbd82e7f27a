"""Match models: one contract (:mod:`.base`), the score-grid result object (:mod:`.scores`) and
the models themselves (:mod:`.dixon_coles`, ...).

Every model is a scikit-learn style estimator: ``__init__`` takes hyper-parameters only,
``fit(matches)`` learns from played matches in the canonical match table and returns ``self``,
``predict_proba(fixtures)`` returns outcome probabilities with columns in ``model.outcomes``.
"""
