import pytest, torch
from uda_course.data import SSLData, fetch_mnist, load_ssl_data

@pytest.fixture(scope='session')
def data_root():
    "The shared MNIST root (fetched once by `make data`)."
    return fetch_mnist(verbose=False)

@pytest.fixture(scope='session')
def data(data_root):
    return load_ssl_data(data_root, n_labeled=100, n_val=1000, seed=0)

def pytest_configure(config):
    "torchvision 0.29 warns on every image encode/decode (lesson 01b uses them); the kit pins that version."
    config.addinivalue_line('filterwarnings', 'ignore:The image decoding and encoding capabilities of TorchVision'
                            ':DeprecationWarning')

@pytest.fixture(scope='module')
def small(data):
    "The lesson's split (all 100 labeled and 58,900 unlabeled images) with 64 validation and 64 test images (lessons 06 and 08's exercises)."
    return SSLData(data.x_labeled, data.y_labeled, data.x_unlabeled, data.x_val[:64], data.y_val[:64], data.x_test[:64], data.y_test[:64])
