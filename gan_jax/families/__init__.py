"""Config-side families: each module turns a ``Config`` into a recipe and a state (driver side).

A family module defines ``ModelConfig`` and ``RecipeConfig`` (the config's ``model`` and
``recipe`` sections), ``build(config, dataset) -> (recipe, state)`` and
``steps_locked(config) -> str`` (why ``train.steps`` may not change on resume, or ""); optionally
``steps_free_until(config) -> int`` (the updates before the schedule depends on ``train.steps``:
a run resumed no later than that may still change it).
"""

#: family name -> module
FAMILIES = {"classic": "gan_jax.families.classic", "text": "gan_jax.families.text", "translation": "gan_jax.families.translation",
            "stylegan2": "gan_jax.families.stylegan2"}
