"""Exact Gaussian-process regression with TFP: `gp_regressor`.

The model is `zoo.models.gaussian_process.GaussianProcessRegressor`, a Keras 3 model whose
maths is TFP's (`tfd.GaussianProcess` for the marginal likelihood it maximises in `fit`,
`tfd.GaussianProcessRegressionModel` for predictions). It needs the TensorFlow backend.
"""

from __future__ import annotations

from zoo._lazy import lazy_import
from zoo.registry import InputSpec, Reference, register_model

keras = lazy_import("keras")
gaussian_process = lazy_import("zoo.models.gaussian_process")  # TensorFlow Probability: on first build

__all__ = ["gp_classifier", "gp_regressor", "svgp_regressor"]

RASMUSSEN_2006 = Reference(
    "C. E. Rasmussen and C. K. I. Williams. Gaussian Processes for Machine Learning. MIT Press, "
    "2006 (chapters 2 and 5: exact regression, ARD kernels, marginal likelihood).",
    "https://gaussianprocess.org/gpml/")


def _compile_gp(model, config) -> None:
    # The loss is the model's own (negative log marginal likelihood); Adam on 4-12 numbers
    # converges in a few hundred full-batch steps at this rate.
    model.compile(optimizer=keras.optimizers.Adam(0.05))


@register_model(
    family="gp",
    task="regression",
    summary="Exact GP regression (TFP), ARD squared-exponential kernel: predictive mean and std.",
    input=InputSpec(value_range=(None, None)),
    output_shape=(None, 2),
    output="[mean, std] of the predictive Normal of a target (std includes observation noise)",
    head="mean_std",
    tags=("gaussian process", "uncertainty", "tfp", "kernel"),
    no_ensemble=("an exact GP's posterior is determined by its data and kernel hyperparameters, which it fits by "
                 "its own method; its predictive std is already its uncertainty."),
    reference=RASMUSSEN_2006,
    compile=_compile_gp,
    input_rank=1,
    params=(5, 1032),
    flops=None,
    backends=("tensorflow",),
)
def gp_regressor(input_shape=(3,), num_train_examples=256, amplitude=1.0, length_scale=1.0,
                 noise_variance=0.1, jitter=1e-6):
    """An exact GP that conditions on `num_train_examples` training examples (set it to the
    size of the training set; recipes do). Hyperparameters are initial values, in units of
    the standardised data; `fit` learns them by maximising the marginal likelihood.

    Example:
        >>> model = zoo.build("gp_regressor", input_shape=(3,), num_train_examples=200)  # doctest: +SKIP
        >>> model.fit(x, y, epochs=200, verbose=0)  # doctest: +SKIP
        >>> model.length_scales  # short for the features that matter  # doctest: +SKIP
    """
    return gaussian_process.GaussianProcessRegressor(
        num_features=input_shape[0], num_train_examples=num_train_examples, amplitude=amplitude,
        length_scale=length_scale, noise_variance=noise_variance, jitter=jitter, name="gp_regressor")


# -- sparse variational GPs -----------------------------------------------------------------
HENSMAN_2015 = Reference(
    "J. Hensman, A. G. de G. Matthews and Z. Ghahramani. Scalable Variational Gaussian Process "
    "Classification. AISTATS 2015 (with M. Titsias, Variational Learning of Inducing Variables in "
    "Sparse Gaussian Processes, AISTATS 2009; A. G. Wilson et al., Deep Kernel Learning, AISTATS 2016).",
    "https://proceedings.mlr.press/v38/hensman15.html")
FEATURE_NETWORKS = ("none", "mlp", "lenet")
LIKELIHOODS = ("auto", "bernoulli", "robustmax", "softmax")
# `zoo.layers.sparse_gp.KERNELS`' names, here so a config is checked without importing TFP
# (a test holds the two equal).
KERNEL_NAMES = ("exponentiated_quadratic", "matern52", "matern32", "matern12", "rational_quadratic")
sparse_gp = lazy_import("zoo.layers.sparse_gp")  # TensorFlow Probability: on first build


def _check_sparse_gp(config) -> None:
    for key, low, high in (("num_inducing", 1, 4096), ("feature_units", 1, None)):
        value = config[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < low or (high and value > high):
            bounds = f"in [{low}, {high}]" if high else f">= {low}"
            raise ValueError(f"`{key}` must be an integer {bounds}. Received: {key}={value!r}")
    if not config["amplitude"] > 0:
        raise ValueError(f"`amplitude` must be a number > 0. Received: amplitude={config['amplitude']!r}")
    if config["features"] not in FEATURE_NETWORKS:
        raise ValueError(f"`features` must be one of {', '.join(map(repr, FEATURE_NETWORKS))}. "
                         f"Received: features={config['features']!r}")
    if config.get("likelihood", "auto") not in LIKELIHOODS:
        raise ValueError(f"`likelihood` must be one of {', '.join(map(repr, LIKELIHOODS))} ('auto': Bernoulli for 2 "
                         f"classes, else softmax). Received: likelihood={config['likelihood']!r}")
    if config.get("likelihood") == "bernoulli" and config.get("num_classes") != 2:
        raise ValueError("likelihood='bernoulli' is for 2 classes (one latent GP). Received: "
                         f"num_classes={config.get('num_classes')!r}. Use likelihood='robustmax' or 'softmax'.")
    if config["kernel"] not in KERNEL_NAMES:
        raise ValueError(f"`kernel` must be one of {', '.join(map(repr, KERNEL_NAMES))} (TFP's kernels, one "
                         f"length scale per feature). Received: kernel={config['kernel']!r}")


def _features(inputs, features: str, feature_units: int):
    """The feature network in front of the GP (deep kernel learning when it is not 'none'):
    images are rescaled from 0-255 pixels first, so exports take raw pixels."""
    if features == "lenet" and len(inputs.shape) != 4:  # here, not in validate: the data decide the shape
        raise ValueError("features='lenet' puts LeNet's convolutions in front of the GP and needs images "
                         f"(height, width, channels). Received: input_shape={tuple(inputs.shape[1:])!r}. "
                         "Use features='none' or 'mlp' for feature vectors.")
    x = inputs
    if len(inputs.shape) == 4:
        x = keras.layers.Rescaling(1 / 255, name="rescale")(x)
    if features == "lenet":  # LeNet's convolutions (the catalog's `lenet` layout), then a projection
        x = keras.layers.Conv2D(6, 5, padding="same", activation="relu", name="conv1")(x)
        x = keras.layers.MaxPooling2D(name="pool1")(x)
        x = keras.layers.Conv2D(16, 5, activation="relu", name="conv2")(x)
        x = keras.layers.MaxPooling2D(name="pool2")(x)
    if len(x.shape) > 2:
        x = keras.layers.Flatten(name="flatten")(x)
    if features in ("mlp", "lenet"):
        x = keras.layers.Dense(64, activation="relu", name="features_hidden")(x)
        x = keras.layers.Dense(feature_units, name="features")(x)
    return x


def _likelihood(config) -> str:
    """The likelihood 'auto' stands for: Bernoulli for 2 classes (one latent GP), else softmax.
    Robust-max is the choice for nearly separable classes (digits: ECE 0.02 on pixels against
    softmax's 0.07, which left every prediction underconfident) but not the default: where
    classes overlap it can only say so through latent variance (iris: NLL 0.41 against
    softmax's 0.15), see benchmarks/RESULTS.md."""
    if config["likelihood"] != "auto":
        return config["likelihood"]
    return "bernoulli" if config["num_classes"] == 2 else "softmax"


def _latents(config) -> int:
    return 1 if _likelihood(config) == "bernoulli" else config["num_classes"]


def _classifier_head(config) -> str:
    return "gp_robustmax" if _likelihood(config) == "robustmax" else "gp_latent"


def _compile_svgp_regressor(model, config) -> None:
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=sparse_gp.MeanStdNLL(),
                  metrics=[sparse_gp.MeanRootMeanSquaredError()])


def _compile_gp_classifier(model, config) -> None:
    likelihood = _likelihood(config)
    model.compile(optimizer=keras.optimizers.Adam(0.01),
                  loss=sparse_gp.VariationalClassificationNLL(likelihood="softmax" if likelihood == "bernoulli"
                                                              else likelihood),
                  metrics=[sparse_gp.PredictiveAccuracy(_classifier_head(config))])


def _initialize(model, x) -> None:
    sparse_gp.initialize_inducing_points(model, x)


_SPARSE_NO_ENSEMBLE = ("a sparse variational GP's predictive distribution is already a posterior over functions; "
                       "ensembles of it are not offered.")


@register_model(
    family="gp",
    task="regression",
    summary="Sparse variational GP regression (SVGP, TFP kernels): minibatch training, 100k+ points.",
    input=InputSpec(value_range=(None, None)),
    output_shape=(None, 2),
    output="[mean, std] of the predictive Normal of a target (std includes observation noise)",
    head="mean_std",
    tags=("gaussian process", "uncertainty", "tfp", "kernel", "sparse", "variational"),
    no_ensemble=_SPARSE_NO_ENSEMBLE,
    reference=HENSMAN_2015,
    compile=_compile_svgp_regressor,
    validate=_check_sparse_gp,
    initialize=_initialize,
    params=(2341, 1),
    flops=None,
    backends=("tensorflow",),
)
def svgp_regressor(input_shape=(3,), num_inducing=64, kernel="exponentiated_quadratic", amplitude=1.0,
                   features="none", feature_units=16, num_train_examples=256, noise_variance=0.1, seed=0):
    """A sparse variational GP with a Gaussian likelihood, trained by minibatch `fit` on the
    ELBO (`zoo.layers.sparse_gp`). Inputs and targets should be standardised (the regression
    recipes do); `num_inducing` inducing inputs start on the data when training runs
    `initialize_inducing_points` (`zoo train` does). `features='mlp'` learns a feature map in
    front of the kernel (deep kernel learning).

    Example:
        >>> model = zoo.build("svgp_regressor", input_shape=(8,), num_train_examples=len(x))  # doctest: +SKIP
        >>> zoo.layers.sparse_gp.initialize_inducing_points(model, x)  # doctest: +SKIP
        >>> model.fit(x, y, batch_size=512, epochs=20)  # doctest: +SKIP
        >>> mean, std = model.predict(x_test).T  # doctest: +SKIP
    """
    inputs = keras.Input(tuple(input_shape), name="inputs")
    x = _features(inputs, features, feature_units)
    moments = sparse_gp.SparseVariationalGP(1, num_inducing, kernel=kernel, amplitude=amplitude,
                                            num_train_examples=num_train_examples, seed=seed, name="svgp")(x)
    outputs = sparse_gp.GaussianLikelihood(noise_variance, name="likelihood")(moments)
    return keras.Model(inputs, outputs, name="svgp_regressor")


@register_model(
    family="gp",
    task="tabular classification",
    summary="Sparse variational GP classifier: Bernoulli, robust-max or softmax likelihood, optional deep kernel.",
    input=InputSpec(value_range=(None, None)),
    output_shape=lambda config: (None, 2 * _latents(config)),
    output="[means, variances] of the latent GP values (one for 2 classes, else one per class)",
    head=_classifier_head,
    tags=("gaussian process", "uncertainty", "tfp", "kernel", "sparse", "variational"),
    no_ensemble=_SPARSE_NO_ENSEMBLE,
    reference=HENSMAN_2015,
    compile=_compile_gp_classifier,
    validate=_check_sparse_gp,
    initialize=_initialize,
    params=(6693, 1),
    flops=None,
    backends=("tensorflow",),
)
def gp_classifier(input_shape=(4,), num_classes=3, num_inducing=64, kernel="exponentiated_quadratic",
                  amplitude=1.0, likelihood="auto", features="none", feature_units=16, num_train_examples=256,
                  seed=0):
    """A sparse variational GP classifier (Hensman et al. 2015): one latent GP with a Bernoulli
    likelihood for 2 classes (`likelihood='auto'`), else one per class, sharing inducing
    inputs and kernel, with a softmax likelihood or (`likelihood='robustmax'`) the paper's
    robust-max one: the label is the argmax of the latents except with probability 1e-3,
    calibrated on nearly separable classes such as digits (`gp_classifier_mnist` uses it).
    The served probabilities integrate the likelihood over the latent posterior, so far from
    the data they return to the prior's (uniform).
    Images (0-255 pixels) are rescaled by the model; `features='lenet'` puts LeNet's
    convolutions in front of the kernel (deep kernel learning), `'mlp'` two dense layers.

    Example:
        >>> model = zoo.build("gp_classifier", input_shape=(4,), num_classes=3, num_train_examples=120)  # doctest: +SKIP
        >>> zoo.layers.sparse_gp.initialize_inducing_points(model, x)  # doctest: +SKIP
        >>> model.fit(x, y, epochs=200)  # doctest: +SKIP
        >>> zoo.uncertainty.predict_with_uncertainty(model, x_test).entropy  # doctest: +SKIP
    """
    inputs = keras.Input(tuple(input_shape), name="inputs")
    x = _features(inputs, features, feature_units)
    latents = _latents({"num_classes": num_classes, "likelihood": likelihood})
    outputs = sparse_gp.SparseVariationalGP(latents, num_inducing, kernel=kernel, amplitude=amplitude,
                                            num_train_examples=num_train_examples, seed=seed, name="svgp")(x)
    return keras.Model(inputs, outputs, name="gp_classifier")
