"""A bidirectional LSTM with attention pooling on IMDB reviews (sentiment): train, export.

    python recipes/lstm_imdb.py                       # TFDS imdb_reviews (25k/25k reviews)
    python recipes/lstm_imdb.py --set sequence_length=400 --set lstm_units=128

Text is tokenised by a `TextVectorization` layer adapted on the training reviews (the
`vocab_size` most frequent words, each review cut or padded to `sequence_length` tokens).
The export includes that layer, so the SavedModel takes raw review strings. Bidirectional
LSTMs reach about 85-88% test accuracy on IMDB in a few epochs.
"""

from __future__ import annotations

import dataclasses

from zoo import training
from zoo.training import tasks


@dataclasses.dataclass
class Config(training.RecipeConfig):
    model: str = "lstm_text"
    dataset: str = "imdb_reviews"
    epochs: int = 3
    batch_size: int = 64
    learning_rate: float = 1e-3
    vocab_size: int = 20_000
    sequence_length: int = 200


def load_data(config: Config) -> training.RecipeData:
    return tasks.text_classification(config, vocab_size=config.vocab_size,
                                     sequence_length=config.sequence_length)


def main(argv=None) -> training.RunResult:
    config = training.parse_config(Config, argv, description=__doc__)
    return training.run(config, load_data)


if __name__ == "__main__":
    raise SystemExit(training.run_script(main))
