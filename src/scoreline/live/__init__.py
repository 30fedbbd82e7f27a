"""Live in-game forecasting: a score feed (:mod:`~scoreline.live.feed`) onto an event bus
(:mod:`~scoreline.live.bus`), the in-game champion (:mod:`~scoreline.live.model`,
:mod:`~scoreline.live.champion`) forecasting every score change from the game's point-in-time
state, and the forecasts written to the prediction store (:mod:`~scoreline.live.loop`), from
which the service pushes them to subscribers."""
