"""Processes whose models raise or hang, to test silava.lava_models.runner."""
import numpy as np
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.variable import Var
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

class Failing(AbstractProcess):
    def __init__(self, *, shape, fail_at=3, **kw):
        super().__init__(shape=shape, fail_at=fail_at, **kw)
        self.a_in = InPort(shape=shape); self.s_out = OutPort(shape=shape)
        self.v = Var(shape=shape, init=0)

@implements(proc=Failing, protocol=LoihiProtocol)
@requires(CPU)
@tag('fixed_pt')
class PyFailing(PyLoihiProcessModel):
    a_in = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    v = LavaPyType(np.ndarray, np.int32, precision=24)
    def run_spk(self):
        x = self.a_in.recv()
        if self.time_step == self.proc_params['fail_at']:
            raise ValueError(f"boom at step {self.time_step}")
        self.v[:] = self.v + x
        self.s_out.send(np.zeros_like(x))

class Hanging(AbstractProcess):
    def __init__(self, *, shape, hang_at=3, **kw):
        super().__init__(shape=shape, hang_at=hang_at, **kw)
        self.a_in = InPort(shape=shape)

@implements(proc=Hanging, protocol=LoihiProtocol)
@requires(CPU)
@tag('fixed_pt')
class PyHanging(PyLoihiProcessModel):
    a_in = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    def run_spk(self):
        self.a_in.recv()
        if self.time_step == self.proc_params['hang_at']:
            import time; time.sleep(3600)
