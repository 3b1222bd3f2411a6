// opencv_read: the OpenCV peer of the main-job benchmark (main-job-bench.sh). What a new
// user writes: VideoCapture on the V4L2 backend, YUYV at the asked size and rate, frames
// converted to BGR by OpenCV itself (CAP_PROP_CONVERT_RGB=1), each read and discarded.
//   opencv_read DEVICE WIDTH HEIGHT FPS FRAMES
// Exit status: 0 when FRAMES BGR frames of WIDTHxHEIGHT were read, 1 otherwise.
#include <cstdio>
#include <cstdlib>
#include <opencv2/core.hpp>
#include <opencv2/videoio.hpp>

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: opencv_read DEVICE WIDTH HEIGHT FPS FRAMES\n");
    return 2;
  }
  const int w = std::atoi(argv[2]), h = std::atoi(argv[3]), frames = std::atoi(argv[5]);
  const double fps = std::atof(argv[4]);
  cv::VideoCapture cap(argv[1], cv::CAP_V4L2);
  if (!cap.isOpened()) {
    std::fprintf(stderr, "opencv_read: cannot open %s\n", argv[1]);
    return 1;
  }
  cap.set(cv::CAP_PROP_FOURCC, cv::VideoWriter::fourcc('Y', 'U', 'Y', 'V'));
  cap.set(cv::CAP_PROP_FRAME_WIDTH, w);
  cap.set(cv::CAP_PROP_FRAME_HEIGHT, h);
  cap.set(cv::CAP_PROP_FPS, fps);
  cap.set(cv::CAP_PROP_CONVERT_RGB, 1);
  cv::Mat frame;
  for (int i = 0; i < frames; i++) {
    if (!cap.read(frame) || frame.cols != w || frame.rows != h || frame.type() != CV_8UC3) {
      std::fprintf(stderr, "opencv_read: frame %d: %dx%d type %d\n", i, frame.cols, frame.rows,
                   frame.empty() ? -1 : frame.type());
      return 1;
    }
  }
  return 0;
}
