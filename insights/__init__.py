"""Pure computations over domain rows, plus the one place that calls the LLM."""
