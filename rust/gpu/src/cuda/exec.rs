//! The real GPU backend of [`Executor`](crate::Executor): a cudarc context and stream per device, modules
//! compiled by NVRTC (process-wide PTX cache) and loaded once per device, buffers from cudarc's stream-ordered
//! allocator (`cuMemAllocAsync`, i.e. the driver's memory pool, where the device supports it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use cudarc::driver::{
    CudaContext, CudaFunction, CudaModule, CudaStream, DriverError, LaunchConfig, PushKernelArg,
};
use cudarc::nvrtc::Ptx;

use crate::launch::{module_source, Arg, Backend, BufRef, Grid, RawBuffer};
use crate::{Error, Result};

fn driver(what: &str) -> impl Fn(DriverError) -> Error + '_ {
    move |e| Error::Driver(format!("{what}: {e}"))
}

pub(crate) struct CudaBackend {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    modules: Mutex<HashMap<String, Arc<CudaModule>>>,
}

impl CudaBackend {
    pub(crate) fn new(ordinal: usize) -> Result<Self> {
        let ctx = CudaContext::new(ordinal).map_err(driver("creating the CUDA context"))?;
        let stream = ctx.new_stream().map_err(driver("creating a stream"))?;
        Ok(Self {
            ctx,
            stream,
            modules: Mutex::new(HashMap::new()),
        })
    }

    fn function(&self, module: &str, kernel: &str) -> Result<CudaFunction> {
        let mut modules = self.modules.lock().unwrap_or_else(PoisonError::into_inner);
        let m = match modules.get(module) {
            Some(m) => m.clone(),
            None => {
                let ptx = crate::compile_ptx(module, module_source(module)?)?;
                let m = self
                    .ctx
                    .load_module(Ptx::from_src(ptx))
                    .map_err(driver("loading a kernel module"))?;
                modules.insert(module.to_string(), m.clone());
                m
            }
        };
        m.load_function(kernel)
            .map_err(|e| Error::Launch(format!("no kernel `{kernel}` in module `{module}`: {e}")))
    }
}

impl Backend for CudaBackend {
    fn alloc_zeroed(&self, bytes: usize) -> Result<RawBuffer> {
        let slice = self
            .stream
            .alloc_zeros::<u8>(bytes.max(1))
            .map_err(driver("allocating device memory"))?;
        Ok(RawBuffer::Cuda(slice))
    }

    fn upload(&self, bytes: &[u8]) -> Result<RawBuffer> {
        if bytes.is_empty() {
            return self.alloc_zeroed(1);
        }
        let slice = self
            .stream
            .clone_htod(bytes)
            .map_err(driver("copying to the device"))?;
        Ok(RawBuffer::Cuda(slice))
    }

    fn download(&self, buf: &RawBuffer, bytes: usize) -> Result<Vec<u8>> {
        match buf {
            RawBuffer::Cuda(slice) => {
                let mut out = self.stream.clone_dtoh(slice).map_err(driver(
                    "copying from the device (or an earlier kernel failed)",
                ))?;
                out.truncate(bytes);
                Ok(out)
            }
            RawBuffer::Host(_) => Err(Error::Driver(
                "an emulator buffer was passed to the GPU".to_string(),
            )),
        }
    }

    fn launch(&self, module: &str, kernel: &str, grid: Grid, args: &[Arg<'_>]) -> Result<()> {
        let f = self.function(module, kernel)?;
        let mut builder = self.stream.launch_builder(&f);
        for a in args {
            match a {
                Arg::Buf(BufRef(RawBuffer::Cuda(slice))) => builder.arg(slice),
                Arg::Buf(BufRef(RawBuffer::Host(_))) => {
                    return Err(Error::Driver(
                        "an emulator buffer was passed to the GPU".to_string(),
                    ))
                }
                Arg::U32(v) => builder.arg(v),
                Arg::I32(v) => builder.arg(v),
                Arg::U64(v) => builder.arg(v),
                Arg::F32(v) => builder.arg(v),
                Arg::F64(v) => builder.arg(v),
            };
        }
        let cfg = LaunchConfig {
            grid_dim: grid.blocks,
            block_dim: grid.threads,
            shared_mem_bytes: 0,
        };
        // SAFETY: `Executor::launch` is unsafe and its caller guarantees the arguments match the kernel.
        unsafe { builder.launch(cfg) }
            .map(|_| ())
            .map_err(driver("launching a kernel"))
    }
}
