"""The HER2 study's patch level: a CNN trained on patches that carry their slide's label."""
