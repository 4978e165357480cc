import pytest, torch
from uda_course.data import fetch_mnist, load_ssl_data

@pytest.fixture(scope='session')
def data_root():
    "The shared MNIST root (fetched once by `make data`)."
    return fetch_mnist(verbose=False)

@pytest.fixture(scope='session')
def data(data_root):
    return load_ssl_data(data_root, n_labeled=100, n_val=1000, seed=0)
